//! The RPC layer's series and the database error counters.

use super::Metrics;
use super::db::db_error_counts;
use super::layer::grpc_code_name;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

#[derive(Clone)]
struct Answer(Option<&'static str>);

impl Service<http::Request<()>> for Answer {
    type Response = http::Response<()>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<http::Response<()>, std::convert::Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        let mut response = http::Response::builder().header("content-type", "application/grpc");
        if let Some(code) = self.0 {
            response = response.header("grpc-status", code);
        }
        std::future::ready(Ok(response.body(()).unwrap()))
    }
}

async fn call(metrics: &Metrics, status: Option<&'static str>, path: &str) {
    let mut service = metrics.layer().layer(Answer(status));
    let request = http::Request::builder().uri(path).body(()).unwrap();
    service.call(request).await.unwrap();
}

#[tokio::test]
async fn counts_rpcs_by_method_and_code_and_folds_unknown_paths() {
    let metrics = Metrics::new("test-svc", &["pkg.Svc"], &[], Vec::new());
    call(&metrics, None, "/pkg.Svc/Get").await;
    call(&metrics, None, "/pkg.Svc/Get").await;
    call(&metrics, Some("5"), "/pkg.Svc/Get").await;
    call(&metrics, Some("12"), "/evil/a/b").await;
    call(&metrics, Some("12"), "/pkg.Svc/Get/extra").await;
    let text = metrics.render();
    assert!(
        text.contains(
            r#"codelab_rpc_requests_total{service="test-svc",method="/pkg.Svc/Get",code="Ok"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"codelab_rpc_requests_total{service="test-svc",method="/pkg.Svc/Get",code="NotFound"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"codelab_rpc_requests_total{service="test-svc",method="other",code="Unimplemented"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"codelab_rpc_duration_seconds_count{service="test-svc",method="/pkg.Svc/Get"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains("codelab_db_errors_total{kind=\"unavailable\"}"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}

#[test]
fn grpc_codes_are_named_like_tonic() {
    assert_eq!(grpc_code_name(b"0"), "Ok");
    assert_eq!(grpc_code_name(b"16"), "Unauthenticated");
    assert_eq!(grpc_code_name(b"17"), "Unknown");
    assert_eq!(grpc_code_name(b"x"), "Unknown");
}

#[test]
fn classified_errors_are_counted() {
    let before = db_error_counts();
    let _ = crate::classify(diesel::result::Error::BrokenTransactionManager);
    let after = db_error_counts();
    assert!(after.unavailable > before.unavailable);
}
