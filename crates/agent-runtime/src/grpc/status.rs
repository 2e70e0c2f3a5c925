//! The one mapping from [`Error`] to `tonic::Status` (DESIGN.md "Errors").
//!
//! Every status carries one `google.rpc.ErrorInfo` (AIP-193: UPPER_SNAKE `reason`, domain
//! `agent-runtime`, dynamic values in `metadata`); a bad field adds a `google.rpc.BadRequest`
//! naming it, a precondition a `PreconditionFailure`, an outage a `RetryInfo`.
//!
//! Reasons: a bad field is `INVALID_<FIELD>` after the last segment of its path, indexes
//! dropped (`page_token` → `INVALID_PAGE_TOKEN`, `messages[2].role` → `INVALID_ROLE`,
//! `messages[0].tool_calls[1].arguments_json` → `INVALID_ARGUMENTS_JSON`), so the set is the
//! fixed set of request field names; the full path is in `metadata.field` and the
//! `BadRequest`. Also `MESSAGE_TOO_LARGE` (`INVALID_ARGUMENT`), `REQUEST_TOO_LARGE`
//! (`RESOURCE_EXHAUSTED`), `SESSION_TOO_LARGE` and `RESPONSE_TOO_LARGE` (`RESOURCE_EXHAUSTED`),
//! `SELF_APPROVAL` (`PERMISSION_DENIED`), `<RESOURCE>_NOT_FOUND`, `<RESOURCE>_ALREADY_EXISTS`, the
//! precondition's own reason, the authentication reason, `DATABASE_UNAVAILABLE`, `INTERNAL`.

use crate::error::Error;
use service_kit::status::{
    already_exists, database_unavailable, error_info, failed_precondition, internal, upper_snake,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// `ErrorInfo.domain` of every agent-runtime error.
pub const DOMAIN: &str = "agent-runtime";

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let info = |reason: &str, meta: &[(&str, &str)]| error_info(DOMAIN, reason, meta);
        match err {
            Error::InvalidArgument { field, description } => {
                let mut details = info(&invalid_reason(&field), &[("field", &field)]);
                details.add_bad_request_violation(field.clone(), description.clone());
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid {field}: {description}"),
                    details,
                )
            }
            Error::MessageTooLarge {
                field,
                size_bytes,
                limit_bytes,
            } => {
                let description = format!(
                    "message is {size_bytes} bytes (content, tool calls and metadata); the limit \
                     is {limit_bytes} bytes"
                );
                let mut details = info(
                    "MESSAGE_TOO_LARGE",
                    &[
                        ("field", &field),
                        ("size_bytes", &size_bytes.to_string()),
                        ("limit_bytes", &limit_bytes.to_string()),
                    ],
                );
                details.add_bad_request_violation(field.clone(), description.clone());
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid {field}: {description}"),
                    details,
                )
            }
            Error::RequestTooLarge {
                size_bytes,
                limit_bytes,
            } => {
                let limit = limit_bytes.to_string();
                let size = size_bytes.map(|s| s.to_string());
                let mut meta = vec![("limit_bytes", limit.as_str())];
                if let Some(size) = &size {
                    meta.push(("size_bytes", size));
                }
                let message = match size_bytes {
                    Some(size) => {
                        format!("request too large: {size} bytes, the limit is {limit_bytes} bytes")
                    }
                    None => format!("request too large: the limit is {limit_bytes} bytes"),
                };
                Status::with_error_details(
                    Code::ResourceExhausted,
                    message,
                    info("REQUEST_TOO_LARGE", &meta),
                )
            }
            Error::NotFound { resource, id } => {
                let reason = format!("{}_NOT_FOUND", upper_snake(resource));
                let mut details = info(&reason, &[("resource", resource), ("id", &id)]);
                details.set_resource_info(resource, id.clone(), "", "not found");
                Status::with_error_details(
                    Code::NotFound,
                    format!("{resource} `{id}` not found"),
                    details,
                )
            }
            Error::AlreadyExists { resource, id } => already_exists(DOMAIN, resource, &id),
            Error::FailedPrecondition { reason, message } => {
                failed_precondition(DOMAIN, reason, message)
            }
            Error::PermissionDenied { reason, message } => {
                Status::with_error_details(Code::PermissionDenied, message, info(reason, &[]))
            }
            Error::SessionTooLarge {
                session_id,
                messages,
                limit,
            } => Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "session `{session_id}` would hold {messages} messages; the limit is {limit} \
                     messages per session"
                ),
                info(
                    "SESSION_TOO_LARGE",
                    &[
                        ("session_id", &session_id),
                        ("messages", &messages.to_string()),
                        ("limit", &limit.to_string()),
                    ],
                ),
            ),
            Error::ResponseTooLarge {
                limit_bytes,
                page_with,
            } => Status::with_error_details(
                Code::ResourceExhausted,
                format!("the answer would be larger than {limit_bytes} bytes; {page_with} instead"),
                info(
                    "RESPONSE_TOO_LARGE",
                    &[
                        ("limit_bytes", &limit_bytes.to_string()),
                        ("page_with", page_with),
                    ],
                ),
            ),
            Error::Auth(auth) => {
                let code = if auth.is_permission_denied() {
                    Code::PermissionDenied
                } else if matches!(auth, crate::auth::AuthError::JwksUnavailable(_)) {
                    Code::Unavailable
                } else {
                    Code::Unauthenticated
                };
                Status::with_error_details(code, auth.to_string(), info(auth.reason(), &[]))
            }
            Error::Unavailable(cause) => database_unavailable(DOMAIN, &cause),
            Error::Internal(cause) => internal(DOMAIN, &cause),
        }
    }
}

/// `INVALID_<FIELD>` for a field path: its last segment without indexes, in UPPER_SNAKE.
fn invalid_reason(field: &str) -> String {
    let leaf = field.rsplit('.').next().unwrap_or_default();
    let leaf = leaf.split('[').next().unwrap_or_default();
    if leaf.is_empty() || !leaf.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return "INVALID_ARGUMENT".to_owned();
    }
    format!("INVALID_{}", leaf.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthError, Scope};
    use service_kit::testing::error_reason as reason;

    #[test]
    fn invalid_argument_names_the_field() {
        let s = Status::from(Error::invalid("messages[2].role", "must be set"));
        assert_eq!(s.code(), Code::InvalidArgument);
        let d = s.get_error_details();
        let v = &d.bad_request().expect("BadRequest").field_violations[0];
        assert_eq!(v.field, "messages[2].role");
        let info = d.error_info().unwrap();
        assert_eq!(info.domain, DOMAIN);
        assert_eq!(info.reason, "INVALID_ROLE");
        assert_eq!(info.metadata["field"], "messages[2].role");
    }

    #[test]
    fn invalid_reasons_follow_the_field() {
        for (field, expected) in [
            ("page_token", "INVALID_PAGE_TOKEN"),
            ("page_size", "INVALID_PAGE_SIZE"),
            ("role", "INVALID_ROLE"),
            ("messages", "INVALID_MESSAGES"),
            (
                "messages[0].tool_calls[1].arguments_json",
                "INVALID_ARGUMENTS_JSON",
            ),
            ("agent_history[3].to_agent", "INVALID_TO_AGENT"),
            ("", "INVALID_ARGUMENT"),
            ("--session-prefix", "INVALID_ARGUMENT"),
        ] {
            let s = Status::from(Error::invalid(field, "bad"));
            assert_eq!(reason(&s), expected, "{field}");
        }
    }

    #[test]
    fn message_too_large() {
        let s = Status::from(Error::MessageTooLarge {
            field: "messages[1].content".into(),
            size_bytes: 2000,
            limit_bytes: 1024,
        });
        assert_eq!(s.code(), Code::InvalidArgument);
        let d = s.get_error_details();
        let info = d.error_info().unwrap();
        assert_eq!(info.reason, "MESSAGE_TOO_LARGE");
        assert_eq!(info.metadata["field"], "messages[1].content");
        assert_eq!(info.metadata["limit_bytes"], "1024");
        assert_eq!(info.metadata["size_bytes"], "2000");
        let v = &d.bad_request().expect("BadRequest").field_violations[0];
        assert_eq!(v.field, "messages[1].content");
    }

    #[test]
    fn request_too_large() {
        let s = Status::from(Error::RequestTooLarge {
            size_bytes: Some(5000),
            limit_bytes: 4096,
        });
        assert_eq!(s.code(), Code::ResourceExhausted);
        let info = s.get_error_details().error_info().unwrap().clone();
        assert_eq!(info.reason, "REQUEST_TOO_LARGE");
        assert_eq!(info.metadata["limit_bytes"], "4096");
        assert_eq!(info.metadata["size_bytes"], "5000");
        assert!(s.message().contains("too large"), "{}", s.message());
        let s = Status::from(Error::RequestTooLarge {
            size_bytes: None,
            limit_bytes: 4096,
        });
        assert!(
            !s.get_error_details()
                .error_info()
                .unwrap()
                .metadata
                .contains_key("size_bytes")
        );
    }

    #[test]
    fn session_and_response_too_large_and_self_approval() {
        let s = Status::from(Error::SessionTooLarge {
            session_id: "s".into(),
            messages: 11,
            limit: 10,
        });
        assert_eq!(s.code(), Code::ResourceExhausted);
        let info = s.get_error_details().error_info().unwrap().clone();
        assert_eq!(info.reason, "SESSION_TOO_LARGE");
        assert_eq!(info.metadata["limit"], "10");
        assert_eq!(info.metadata["messages"], "11");
        let s = Status::from(Error::ResponseTooLarge {
            limit_bytes: 100,
            page_with: "page with ListMessages",
        });
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(reason(&s), "RESPONSE_TOO_LARGE");
        assert!(s.message().contains("ListMessages"), "{}", s.message());
        let s = Status::from(Error::PermissionDenied {
            reason: "SELF_APPROVAL",
            message: "m".into(),
        });
        assert_eq!(
            (s.code(), reason(&s)),
            (Code::PermissionDenied, "SELF_APPROVAL".into())
        );
    }

    #[test]
    fn not_found_and_exists() {
        let s = Status::from(Error::session_not_found("abc"));
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(reason(&s), "SESSION_NOT_FOUND");
        let s = Status::from(Error::AlreadyExists {
            resource: "session",
            id: "x".into(),
        });
        assert_eq!(s.code(), Code::AlreadyExists);
        assert_eq!(reason(&s), "SESSION_ALREADY_EXISTS");
    }

    #[test]
    fn precondition_auth_unavailable_internal() {
        let s = Status::from(Error::FailedPrecondition {
            reason: "AGENT_MISMATCH",
            message: "m".into(),
        });
        assert_eq!(
            (s.code(), reason(&s)),
            (Code::FailedPrecondition, "AGENT_MISMATCH".into())
        );
        let s = Status::from(Error::Auth(AuthError::MissingToken));
        assert_eq!(s.code(), Code::Unauthenticated);
        let s = Status::from(Error::Auth(AuthError::MissingScope(Scope::Admin)));
        assert_eq!(s.code(), Code::PermissionDenied);
        let s = Status::from(Error::Unavailable("down".into()));
        assert_eq!(s.code(), Code::Unavailable);
        assert!(s.get_error_details().retry_info().is_some());
        let s = Status::from(Error::Internal("secret cause".into()));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret"));
    }
}
