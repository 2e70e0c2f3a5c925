//! The request size limit, for every service the server registers.
//!
//! tonic's decoder enforces `max_decoding_message_size` itself: it reads the 5-byte gRPC frame
//! header and refuses a message whose announced length exceeds the limit before buffering any
//! of it. Its answer, though, is a bare `OUT_OF_RANGE` without details. [`SizeLimited`] wraps
//! a generated service, leaves the request untouched, and turns exactly that answer into the
//! service's own refusal, normally [`request_too_large`]: `RESOURCE_EXHAUSTED` (gRPC's code for
//! a message over the receive limit) with `ErrorInfo` reason `REQUEST_TOO_LARGE` and metadata
//! `limit_bytes` and `size_bytes`. The connection stays open and the server keeps serving.
//!
//! The rejected status is found in the response's extensions, where tonic puts the `Status`
//! of every trailers-only answer; the decoder's message is matched by its fixed prefix, and the
//! services' `api` tests of the limit fail if a tonic upgrade changes it. Streaming RPCs
//! (only reflection's) decode inside their handler, so their refusal travels in the trailers
//! and stays tonic's `OUT_OF_RANGE`; the limit itself applies to them all the same.

use std::collections::HashMap;

use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Context, Poll, Service, http};
use tonic::server::NamedService;
use tonic_types::{ErrorDetails, StatusExt};

/// Start of tonic's `OUT_OF_RANGE` message for a request over `max_decoding_message_size`.
const DECODER_TOO_LARGE: &str = "Error, decoded message length too large: found ";

/// Builds the answer to an oversized request from the announced size (when known) and the
/// limit, both in bytes.
pub type Refusal = fn(Option<u64>, usize) -> Status;

/// `RESOURCE_EXHAUSTED` with `ErrorInfo { reason: REQUEST_TOO_LARGE, domain, metadata:
/// limit_bytes, size_bytes (when known) }` and a message giving both.
pub fn request_too_large(domain: &str, size_bytes: Option<u64>, limit_bytes: usize) -> Status {
    let mut metadata = HashMap::from([("limit_bytes".to_owned(), limit_bytes.to_string())]);
    if let Some(size) = size_bytes {
        metadata.insert("size_bytes".to_owned(), size.to_string());
    }
    let message = match size_bytes {
        Some(size) => format!("request too large: {size} bytes, the limit is {limit_bytes} bytes"),
        None => format!("request too large: the limit is {limit_bytes} bytes"),
    };
    Status::with_error_details(
        tonic::Code::ResourceExhausted,
        message,
        ErrorDetails::with_error_info("REQUEST_TOO_LARGE", domain, metadata),
    )
}

/// A generated tonic service with the request limit applied (see the module doc). Build it
/// with [`SizeLimited::new`] after setting the same limit on the service with
/// `max_decoding_message_size`.
#[derive(Debug, Clone)]
pub struct SizeLimited<S> {
    inner: S,
    /// The service's `…__MAX_REQUEST_BYTES`, reported in the error.
    limit_bytes: usize,
    refuse: Refusal,
}

impl<S> SizeLimited<S> {
    /// `inner` (whose decoder already refuses messages over `limit_bytes`) answering such a
    /// request with `refuse(size, limit_bytes)`.
    pub fn new(inner: S, limit_bytes: usize, refuse: Refusal) -> SizeLimited<S> {
        SizeLimited {
            inner,
            limit_bytes,
            refuse,
        }
    }
}

impl<S: NamedService> NamedService for SizeLimited<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for SizeLimited<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let limit_bytes = self.limit_bytes;
        let refuse = self.refuse;
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            let Some(size_bytes) = response
                .extensions()
                .get::<Status>()
                .and_then(decoder_refusal)
            else {
                return Ok(response);
            };
            // Inside the request's span (`method`): the handler never ran, so log it here.
            tracing::info!(?size_bytes, limit_bytes, "request too large, refused");
            Ok(refuse(size_bytes, limit_bytes).into_http())
        })
    }
}

/// `Some(announced size)` when `status` is tonic's refusal of an oversized request; the size is
/// `None` when its message cannot be parsed.
fn decoder_refusal(status: &Status) -> Option<Option<u64>> {
    if status.code() != tonic::Code::OutOfRange {
        return None;
    }
    let rest = status.message().strip_prefix(DECODER_TOO_LARGE)?;
    Some(rest.split(' ').next().and_then(|n| n.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_decoder_refusal_is_recognised() {
        let tonic_refusal = Status::out_of_range(
            "Error, decoded message length too large: found 102412 bytes, the limit is: 65536 bytes",
        );
        assert_eq!(decoder_refusal(&tonic_refusal), Some(Some(102_412)));
        let odd = Status::out_of_range("Error, decoded message length too large: found many");
        assert_eq!(decoder_refusal(&odd), Some(None));
        assert_eq!(
            decoder_refusal(&Status::out_of_range("seq out of range")),
            None
        );
        let other = Status::resource_exhausted(
            "Error, decoded message length too large: found 1 bytes, the limit is: 0 bytes",
        );
        assert_eq!(decoder_refusal(&other), None);
    }
}
