//! Admin errors as `tonic::Status`: one `google.rpc.ErrorInfo` with the serving service's
//! domain (AIP-193), plus `BadRequest`, `PreconditionFailure` or `RetryInfo` where they apply.

use db_core::admin::AdminError;
use std::collections::HashMap;
use std::time::Duration;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// An `ErrorInfo` with `reason`, the service's `domain` and `meta` as its metadata.
pub(crate) fn info(domain: &str, reason: &str, meta: &[(&str, &str)]) -> ErrorDetails {
    let metadata: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    ErrorDetails::with_error_info(reason, domain, metadata)
}

/// `INVALID_ARGUMENT` with a `BadRequest` naming `field`.
pub(crate) fn invalid(domain: &str, field: &str, description: &str) -> Status {
    let mut details = info(domain, "INVALID_ARGUMENT", &[("field", field)]);
    details.add_bad_request_violation(field, description);
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid {field}: {description}"),
        details,
    )
}

/// `INTERNAL` with a generic message; `cause` is logged, never sent.
pub(crate) fn internal(domain: &str, cause: &str) -> Status {
    tracing::error!(%cause, "internal error");
    Status::with_error_details(
        Code::Internal,
        "internal error",
        info(domain, "INTERNAL", &[]),
    )
}

/// `FAILED_PRECONDITION` with `reason` as `ErrorInfo` and `PreconditionFailure`.
fn precondition(domain: &str, reason: &str, message: String) -> Status {
    let mut details = info(domain, reason, &[]);
    details.add_precondition_failure_violation(reason, "", message.clone());
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

/// Maps the admin engine's errors: a bad backup or a refused restore → `FAILED_PRECONDITION`
/// (reasons `BACKUP_INVALID`, `ADMIN_REFUSED`), a database outage → `UNAVAILABLE` (with
/// `RetryInfo`), anything else → `INTERNAL` (logged, generic message).
pub(crate) fn admin_status(domain: &str, error: AdminError) -> Status {
    match error {
        AdminError::BadBackup { backup, problem } => precondition(
            domain,
            "BACKUP_INVALID",
            format!(
                "backup {}: {problem}",
                backup.rsplit('/').next().unwrap_or(&backup)
            ),
        ),
        AdminError::Refused(message) => precondition(domain, "ADMIN_REFUSED", message),
        AdminError::Db(e) if e.is_unavailable() => {
            tracing::warn!(cause = %e, "database unavailable");
            let mut details = info(domain, "DATABASE_UNAVAILABLE", &[]);
            details.set_retry_info(Some(Duration::from_secs(1)));
            Status::with_error_details(
                Code::Unavailable,
                "database unavailable, retry later",
                details,
            )
        }
        AdminError::Db(e) => internal(domain, &e.to_string()),
        AdminError::Io { path, source } => internal(domain, &format!("{path}: {source}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_errors_keep_their_meaning_and_domain() {
        let s = admin_status(
            "auth-service",
            AdminError::BadBackup {
                backup: "/b/auth-2026".into(),
                problem: "sha256 mismatch".into(),
            },
        );
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(
            s.message().starts_with("backup auth-2026:"),
            "{}",
            s.message()
        );
        let details = s.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("BACKUP_INVALID", "auth-service")
        );
        let s = admin_status(
            "x",
            AdminError::Db(db_core::DbError::Unavailable("down".into())),
        );
        assert_eq!(s.code(), Code::Unavailable);
        assert!(s.get_error_details().retry_info().is_some());
        let s = admin_status(
            "x",
            AdminError::Io {
                path: "/secret/path".into(),
                source: std::io::Error::other("boom"),
            },
        );
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("/secret/path"));
    }
}
