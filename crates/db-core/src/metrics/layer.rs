//! The tower layer that records every request through a server.

use super::rpc::RpcMetrics;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// Tower layer made by [`Metrics::layer`](super::Metrics::layer).
#[derive(Clone)]
pub struct RpcMetricsLayer {
    pub(crate) rpc: Arc<RpcMetrics>,
}

impl<S> tower_layer::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            rpc: self.rpc.clone(),
        }
    }
}

/// The service made by [`RpcMetricsLayer`].
#[derive(Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    rpc: Arc<RpcMetrics>,
}

impl<S, B, RB> tower_service::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    RB: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let method = self.rpc.method_label(request.uri().path());
        let future = self.inner.call(request);
        let rpc = self.rpc.clone();
        Box::pin(async move {
            let result = future.await;
            let code = match &result {
                Ok(response) => response_code(response),
                Err(_) => "Unknown",
            };
            let seconds = started.elapsed().as_secs_f64();
            tracing::debug!(method = &*method, code, duration_ms = seconds * 1e3, "rpc");
            rpc.observe(method, code, seconds);
            result
        })
    }
}

/// The gRPC status of a response: `grpc-status` in the headers (tonic answers every unary
/// error trailers-only, so the code is in the headers), else `Ok` for a gRPC response with a
/// body. Plain HTTP responses are labelled by HTTP status class (`http_2xx` …).
fn response_code<B>(response: &http::Response<B>) -> &'static str {
    if let Some(status) = response.headers().get("grpc-status") {
        return grpc_code_name(status.as_bytes());
    }
    let is_grpc = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if is_grpc {
        return "Ok";
    }
    match response.status().as_u16() {
        200..=299 => "http_2xx",
        300..=399 => "http_3xx",
        400..=499 => "http_4xx",
        _ => "http_5xx",
    }
}

/// gRPC status code names as tonic spells them (`tonic::Code`'s `Debug`).
pub(crate) fn grpc_code_name(value: &[u8]) -> &'static str {
    const NAMES: [&str; 17] = [
        "Ok",
        "Cancelled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .and_then(|n| NAMES.get(n).copied())
        .unwrap_or("Unknown")
}
