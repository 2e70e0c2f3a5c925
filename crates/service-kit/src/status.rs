//! The parts of an `Error → tonic::Status` mapping both services share: the one `ErrorInfo`
//! every status carries (AIP-193: UPPER_SNAKE reason, the service's domain, dynamic values in
//! metadata), the outage and internal-error answers, and how an RPC's outcome is logged.
//!
//! Each service keeps its own `From<Error> for Status` (its variants, reasons and codes) and
//! calls these for the arms that are the same.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tonic::{Code, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Suggested client back-off after `UNAVAILABLE`.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Details holding one `ErrorInfo` with `reason`, `domain` and `meta` as its metadata.
pub fn error_info(domain: &str, reason: &str, meta: &[(&str, &str)]) -> ErrorDetails {
    let metadata: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    ErrorDetails::with_error_info(reason, domain, metadata)
}

/// `FAILED_PRECONDITION` with `message`, reason `reason` and a `PreconditionFailure` of the
/// same type.
pub fn failed_precondition(domain: &str, reason: &str, message: String) -> Status {
    let mut details = error_info(domain, reason, &[]);
    details.add_precondition_failure_violation(reason, "", message.clone());
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

/// `ALREADY_EXISTS` with reason `<RESOURCE>_ALREADY_EXISTS` (`resource` in UPPER_SNAKE) and
/// the resource and id in the `ErrorInfo` metadata.
pub fn already_exists(domain: &str, resource: &str, id: &str) -> Status {
    let reason = format!("{}_ALREADY_EXISTS", upper_snake(resource));
    Status::with_error_details(
        Code::AlreadyExists,
        format!("{resource} `{id}` already exists"),
        error_info(domain, &reason, &[("resource", resource), ("id", id)]),
    )
}

/// `s` in UPPER_SNAKE: spaces become `_` (`agent context` → `AGENT_CONTEXT`).
pub fn upper_snake(s: &str) -> String {
    s.replace(' ', "_").to_ascii_uppercase()
}

/// `UNAVAILABLE` (`DATABASE_UNAVAILABLE`, retry after [`RETRY_AFTER`]); `cause` is logged as a
/// warning, never sent.
pub fn database_unavailable(domain: &str, cause: &str) -> Status {
    tracing::warn!(%cause, "database unavailable");
    let mut details = error_info(domain, "DATABASE_UNAVAILABLE", &[]);
    details.set_retry_info(Some(RETRY_AFTER));
    Status::with_error_details(
        Code::Unavailable,
        "database unavailable, retry later",
        details,
    )
}

/// `INTERNAL` (`INTERNAL`); `cause` is logged as an error, never sent.
pub fn internal(domain: &str, cause: &str) -> Status {
    tracing::error!(%cause, "internal error");
    Status::with_error_details(
        Code::Internal,
        "internal error",
        error_info(domain, "INTERNAL", &[]),
    )
}

/// Converts an RPC outcome into its response or status and logs it (`code`, `duration_ms`
/// since `started`): a success at debug, a failure at info with the status message.
///
/// # Errors
/// The status the error converts into.
pub fn finish<T, E: Into<Status>>(
    started: Instant,
    result: Result<T, E>,
) -> Result<Response<T>, Status> {
    let duration_ms = started.elapsed().as_secs_f64() * 1e3;
    match result {
        Ok(body) => {
            tracing::debug!(code = "OK", duration_ms, "rpc finished");
            Ok(Response::new(body))
        }
        Err(err) => {
            let status: Status = err.into();
            tracing::info!(code = ?status.code(), duration_ms, message = status.message(), "rpc failed");
            Err(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_and_bugs_hide_their_cause() {
        let s = database_unavailable("svc", "connection refused by 10.0.0.1");
        assert_eq!(s.code(), Code::Unavailable);
        assert!(!s.message().contains("10.0.0.1"));
        let d = s.get_error_details();
        assert_eq!(d.error_info().unwrap().reason, "DATABASE_UNAVAILABLE");
        assert_eq!(d.error_info().unwrap().domain, "svc");
        assert_eq!(d.retry_info().unwrap().retry_delay, Some(RETRY_AFTER));
        let s = internal("svc", "secret detail");
        assert_eq!((s.code(), s.message()), (Code::Internal, "internal error"));
    }

    #[test]
    fn a_taken_id_names_the_resource_in_upper_snake() {
        let s = already_exists("svc", "agent context", "a1");
        assert_eq!(s.code(), Code::AlreadyExists);
        assert_eq!(s.message(), "agent context `a1` already exists");
        let info = s.get_error_details().error_info().unwrap().clone();
        assert_eq!(info.reason, "AGENT_CONTEXT_ALREADY_EXISTS");
        assert_eq!(info.metadata["id"], "a1");
    }

    #[test]
    fn finish_turns_an_error_into_its_status() {
        let ok: Result<u8, Status> = Ok(1);
        assert_eq!(finish(Instant::now(), ok).unwrap().into_inner(), 1);
        let err: Result<u8, Status> = Err(failed_precondition("svc", "WRONG_STATE", "no".into()));
        let s = finish(Instant::now(), err).unwrap_err();
        assert_eq!(s.code(), Code::FailedPrecondition);
        let d = s.get_error_details();
        assert_eq!(
            d.precondition_failure().unwrap().violations[0].r#type,
            "WRONG_STATE"
        );
    }
}
