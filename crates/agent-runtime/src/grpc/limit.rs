//! The request size limit's answer for every service the server registers (the limit itself is
//! [`service_kit::limit`]): [`Error::RequestTooLarge`] (`RESOURCE_EXHAUSTED`, `ErrorInfo`
//! reason `REQUEST_TOO_LARGE` with `limit_bytes` and `size_bytes`).

use crate::error::Error;
use tonic::Status;

/// [`Error::RequestTooLarge`] as a status: the [`service_kit::limit::Refusal`] of every
/// agent-runtime service.
pub fn refuse(size_bytes: Option<u64>, limit_bytes: usize) -> Status {
    Status::from(Error::RequestTooLarge {
        size_bytes,
        limit_bytes,
    })
}
