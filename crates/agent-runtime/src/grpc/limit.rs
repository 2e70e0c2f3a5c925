//! The request size limit, for every service the server registers: [`service_kit::limit`]
//! answering with [`Error::RequestTooLarge`] (`RESOURCE_EXHAUSTED`, `ErrorInfo` reason
//! `REQUEST_TOO_LARGE` with `limit_bytes` and `size_bytes`).

use crate::error::Error;
use service_kit::limit::SizeLimited;
use tonic::Status;

/// `inner` (whose decoder already refuses messages over `limit_bytes`, see
/// `max_decoding_message_size`) answering such a request with [`Error::RequestTooLarge`].
pub fn size_limited<S>(inner: S, limit_bytes: usize) -> SizeLimited<S> {
    SizeLimited::new(inner, limit_bytes, refuse)
}

fn refuse(size_bytes: Option<u64>, limit_bytes: usize) -> Status {
    Status::from(Error::RequestTooLarge {
        size_bytes,
        limit_bytes,
    })
}
