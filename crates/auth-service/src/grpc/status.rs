//! The one mapping from [`Error`] to `tonic::Status` (DESIGN.md "Errors").
//!
//! Every status carries one `google.rpc.ErrorInfo` (AIP-193: UPPER_SNAKE `reason`, domain
//! `auth-service`). Token-endpoint errors put the RFC 6749 §5.2 code in the reason (upper-cased),
//! in `metadata["error"]` and at the start of the message (`invalid_grant: …`); a bad field adds
//! a `BadRequest`, a lockout or outage a `RetryInfo`.

use crate::error::{Error, OAuthCode};
use service_kit::status::{
    already_exists, database_unavailable, error_info, failed_precondition, internal,
};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of every auth-service error.
pub const DOMAIN: &str = "auth-service";

fn info(reason: &str, meta: &[(&str, &str)]) -> ErrorDetails {
    error_info(DOMAIN, reason, meta)
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        match err {
            Error::InvalidArgument { field, description } => {
                let mut details = info("INVALID_ARGUMENT", &[("field", &field)]);
                details.add_bad_request_violation(field.clone(), description.clone());
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid {field}: {description}"),
                    details,
                )
            }
            Error::OAuth { code, description } => {
                let grpc = match code {
                    OAuthCode::InvalidClient | OAuthCode::InvalidGrant => Code::Unauthenticated,
                    OAuthCode::UnauthorizedClient => Code::PermissionDenied,
                    OAuthCode::InvalidRequest
                    | OAuthCode::UnsupportedGrantType
                    | OAuthCode::InvalidScope => Code::InvalidArgument,
                };
                let mut details = info(
                    &code.as_str().to_ascii_uppercase(),
                    &[
                        ("error", code.as_str()),
                        ("error_description", &description),
                    ],
                );
                if grpc == Code::InvalidArgument {
                    let field = match code {
                        OAuthCode::InvalidScope => "scope",
                        OAuthCode::UnsupportedGrantType => "grant_type",
                        _ => "request",
                    };
                    details.add_bad_request_violation(field, description.clone());
                }
                Status::with_error_details(grpc, format!("{code}: {description}"), details)
            }
            Error::Locked { retry_after } => {
                let secs = retry_after.as_secs().max(1).to_string();
                let mut details = info(
                    "TOO_MANY_ATTEMPTS",
                    &[("error", "invalid_grant"), ("retry_after_secs", &secs)],
                );
                details.set_retry_info(Some(retry_after));
                Status::with_error_details(
                    Code::ResourceExhausted,
                    format!("too many failed attempts; retry in {secs} s"),
                    details,
                )
            }
            Error::Unauthenticated { reason, message } => {
                Status::with_error_details(Code::Unauthenticated, message, info(reason, &[]))
            }
            Error::PermissionDenied(scope) => Status::with_error_details(
                Code::PermissionDenied,
                format!("missing scope `{scope}`"),
                info("MISSING_SCOPE", &[("scope", scope)]),
            ),
            Error::NotFound { resource, id } => {
                let reason = format!("{}_NOT_FOUND", resource.to_ascii_uppercase());
                Status::with_error_details(
                    Code::NotFound,
                    format!("{resource} `{id}` not found"),
                    info(&reason, &[("resource", resource), ("id", &id)]),
                )
            }
            // `user`, `client` or `email`: USER_ALREADY_EXISTS, …
            Error::AlreadyExists { resource, id } => already_exists(DOMAIN, resource, &id),
            Error::FailedPrecondition { reason, message } => {
                failed_precondition(DOMAIN, reason, message)
            }
            Error::Unavailable(cause) => database_unavailable(DOMAIN, &cause),
            Error::Internal(cause) => internal(DOMAIN, &cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::testing::error_reason as reason;
    use std::time::Duration;

    #[test]
    fn oauth_codes_map_to_grpc_codes_and_keep_the_rfc_code() {
        let cases = [
            (OAuthCode::InvalidGrant, Code::Unauthenticated),
            (OAuthCode::InvalidClient, Code::Unauthenticated),
            (OAuthCode::UnauthorizedClient, Code::PermissionDenied),
            (OAuthCode::InvalidRequest, Code::InvalidArgument),
            (OAuthCode::UnsupportedGrantType, Code::InvalidArgument),
            (OAuthCode::InvalidScope, Code::InvalidArgument),
        ];
        for (code, grpc) in cases {
            let s = Status::from(Error::oauth(code, "why"));
            assert_eq!(s.code(), grpc, "{code}");
            assert!(s.message().starts_with(code.as_str()), "{}", s.message());
            let d = s.get_error_details();
            let info = d.error_info().unwrap();
            assert_eq!(info.domain, DOMAIN);
            assert_eq!(info.reason, code.as_str().to_ascii_uppercase());
            assert_eq!(info.metadata["error"], code.as_str());
        }
    }

    #[test]
    fn lockout_is_resource_exhausted_with_retry_info() {
        let s = Status::from(Error::Locked {
            retry_after: Duration::from_secs(900),
        });
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(reason(&s), "TOO_MANY_ATTEMPTS");
        assert_eq!(
            s.get_error_details().retry_info().unwrap().retry_delay,
            Some(Duration::from_secs(900))
        );
    }

    #[test]
    fn other_errors() {
        let s = Status::from(Error::invalid("username", "too short"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.get_error_details()
                .bad_request()
                .unwrap()
                .field_violations[0]
                .field,
            "username"
        );
        assert_eq!(
            Status::from(Error::not_found("user", "u1")).code(),
            Code::NotFound
        );
        assert_eq!(
            reason(&Status::from(Error::not_found("user", "u1"))),
            "USER_NOT_FOUND"
        );
        assert_eq!(
            Status::from(Error::PermissionDenied("api:admin")).code(),
            Code::PermissionDenied
        );
        let s = Status::from(Error::Internal("secret cause".into()));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret"));
        assert_eq!(
            Status::from(Error::Unavailable("x".into())).code(),
            Code::Unavailable
        );
    }
}
