//! gRPC-Web (the grpc-web protocol, `PROTOCOL-WEB.md` of gRPC) on the same port as gRPC, over
//! HTTP/1.1 and HTTP/2, for browsers.
//!
//! A request whose `content-type` is one of `application/grpc-web`,
//! `application/grpc-web+proto`, `application/grpc-web-text` or
//! `application/grpc-web-text+proto` goes through `tonic-web`'s translation: the request
//! becomes a gRPC request for the same routes (so every service, limit and interceptor applies
//! unchanged), and the answer comes back as gRPC-Web, its trailers as the final body frame
//! (flag `0x80`); a trailers-only answer (every unary error, an unknown service) keeps its
//! `grpc-status` in the headers, as gRPC-Web clients expect. A gRPC-Web content type with any
//! method but `POST` gets HTTP 405.
//!
//! Every other request bypasses the translation: `tonic-web`'s own service answers a plain
//! HTTP/1.1 request with 400, which would take away `GET /health` and the services' HTTP routes.

use http::{Request, Response, header};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tonic::body::Body;
use tonic_web::GrpcWebService;

/// The content types `tonic-web` translates.
const GRPC_WEB_CONTENT_TYPES: [&str; 4] = [
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc-web-text+proto",
];

/// Whether `request` is a gRPC-Web call.
fn is_grpc_web<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| GRPC_WEB_CONTENT_TYPES.contains(&ct))
}

/// Tower layer: gRPC-Web calls through `tonic-web`, every other request untouched.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcWebLayer;

impl<S: Clone> tower_layer::Layer<S> for GrpcWebLayer {
    type Service = GrpcWeb<S>;

    fn layer(&self, inner: S) -> GrpcWeb<S> {
        GrpcWeb {
            web: tower_layer::Layer::layer(&tonic_web::GrpcWebLayer::new(), inner.clone()),
            plain: inner,
        }
    }
}

/// The service made by [`GrpcWebLayer`].
#[derive(Debug, Clone)]
pub struct GrpcWeb<S> {
    web: GrpcWebService<S>,
    plain: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> tower_service::Service<Request<Body>> for GrpcWeb<S>
where
    S: tower_service::Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        ready!(tower_service::Service::<Request<Body>>::poll_ready(
            &mut self.web,
            cx
        ))?;
        self.plain.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if is_grpc_web(&request) {
            Box::pin(self.web.call(request))
        } else {
            Box::pin(self.plain.call(request))
        }
    }
}
