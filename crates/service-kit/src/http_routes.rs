//! The plain HTTP answers every service gives besides its own routes: `GET /health` for load
//! balancers and probes that speak no gRPC, and the answer to a path no route serves.
//!
//! - `GET /health` (HTTP/1.1 and HTTP/2; `HEAD` too): `200 {"status":"healthy","version":"…"}`
//!   while the database answers, `503 {"status":"unhealthy","version":"…"}` while it does not:
//!   the same probe that drives grpc.health.v1 (`db_core::service::watch_database`).
//!   `Content-Type: application/json`, `Cache-Control: no-store`.
//! - An unknown path: a gRPC request (`content-type` starting `application/grpc`; gRPC-Web
//!   calls arrive here already translated to gRPC) gets tonic's answer, HTTP 200 with
//!   `grpc-status: 12` (`UNIMPLEMENTED`), trailers-only; any other request HTTP 404 with
//!   `{"error":"not_found","error_description":"no route for <METHOD> <path>"}` (the path cut
//!   to [`MAX_PATH_CHARS`] characters). A known HTTP path with another method keeps axum's
//!   405 with `Allow`.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Path of the health answer.
pub const HEALTH_PATH: &str = "/health";

/// Longest part of a request path quoted in a 404 answer, in characters.
pub const MAX_PATH_CHARS: usize = 100;

/// Whether the database answered its last probe; shared by the probe and `GET /health`.
#[derive(Debug, Clone)]
pub struct Reachable(Arc<AtomicBool>);

impl Reachable {
    /// Reachable until a probe says otherwise (as the health service starts `SERVING`).
    pub fn new() -> Reachable {
        Reachable(Arc::new(AtomicBool::new(true)))
    }

    /// Records the outcome of a probe.
    pub fn set(&self, reachable: bool) {
        self.0.store(reachable, Ordering::Relaxed);
    }

    /// The outcome of the last probe.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Reachable {
    fn default() -> Self {
        Reachable::new()
    }
}

/// `router` with `GET /health` (reporting `version`, the service's crate version) and the
/// unknown-path answer as its fallback.
///
/// # Panics
/// When `router` already has a route for [`HEALTH_PATH`] (axum refuses overlapping routes).
pub fn add(router: axum::Router, reachable: Reachable, version: &'static str) -> axum::Router {
    router
        .route(
            HEALTH_PATH,
            axum::routing::get(move || std::future::ready(health(reachable.get(), version))),
        )
        .fallback(not_found)
}

/// The answer of `GET /health`.
fn health(reachable: bool, version: &'static str) -> Response {
    let (status, word) = if reachable {
        (StatusCode::OK, "healthy")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    };
    let body = serde_json::json!({ "status": word, "version": version }).to_string();
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The answer to a path no route serves (see the module documentation).
async fn not_found(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let grpc = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        let (parts, ()) = tonic::Status::unimplemented("")
            .into_http::<()>()
            .into_parts();
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    let path = uri.path();
    let shown: String = path.chars().take(MAX_PATH_CHARS).collect();
    let ellipsis = if shown.len() < path.len() { "…" } else { "" };
    let body = serde_json::json!({
        "error": "not_found",
        "error_description": format!("no route for {method} {shown}{ellipsis}"),
    })
    .to_string();
    let mut response = (StatusCode::NOT_FOUND, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
