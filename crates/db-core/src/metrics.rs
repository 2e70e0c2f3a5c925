//! Prometheus metrics of one service: RPCs by method and status code, RPC latency histograms,
//! connection-pool gauges and database error counters, served as text on an HTTP port
//! (`…__METRICS_ADDR`).
//!
//! [`Metrics`] owns its own registry (no global recorder), so several services in one process
//! (`codelab up`, tests) keep separate figures. [`Metrics::layer`] is a tower layer for the
//! gRPC server; [`serve`] answers `GET /metrics` in the OpenMetrics text format, which
//! Prometheus scrapes natively.
//!
//! Exported series (times in seconds, as Prometheus conventions require):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `codelab_rpc_requests_total` | counter | `service`, `method` (`/pkg.Service/Method`), `code` (gRPC code name, e.g. `Ok`, `NotFound`) |
//! | `codelab_rpc_duration_seconds` | histogram | `service`, `method` |
//! | `codelab_db_pool_connections` | gauge | `service`, `database`, `state` (`open`, `idle`, `in_use`, `max`) |
//! | `codelab_db_pool_waiting` | gauge | `service`, `database` (callers waiting for a connection) |
//! | `codelab_db_errors_total` | counter | `kind` (`unavailable`, `constraint`, `query`); counted by [`crate::classify`] for the whole process |
//!
//! The method label is the request path only for the services named in
//! [`Metrics::new`]; any other path counts as `method="other"`, so a client probing random
//! paths cannot grow the series without bound.

use crate::Pool;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

/// Database errors of this process, by kind (see [`DbErrorCounts`]).
static DB_UNAVAILABLE: AtomicU64 = AtomicU64::new(0);
static DB_CONSTRAINT: AtomicU64 = AtomicU64::new(0);
static DB_QUERY: AtomicU64 = AtomicU64::new(0);

/// Database errors seen by this process since it started, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbErrorCounts {
    /// Database unreachable, pool wait timeout, SQLite busy ([`crate::DbError::Unavailable`]).
    pub unavailable: u64,
    /// Unique, foreign-key or check constraint violations.
    pub constraint: u64,
    /// Any other driver error ([`crate::DbError::Query`]).
    pub query: u64,
}

/// The counts of [`DbErrorCounts`] so far.
pub fn db_error_counts() -> DbErrorCounts {
    DbErrorCounts {
        unavailable: DB_UNAVAILABLE.load(Ordering::Relaxed),
        constraint: DB_CONSTRAINT.load(Ordering::Relaxed),
        query: DB_QUERY.load(Ordering::Relaxed),
    }
}

/// Counts one classified database error (called by [`crate::classify`] and the pool).
pub(crate) fn count_db_error(err: &crate::DbError) {
    use crate::DbError as E;
    let counter = match err {
        E::Unavailable(_) => &DB_UNAVAILABLE,
        E::UniqueViolation { .. } | E::ForeignKeyViolation(_) | E::CheckViolation(_) => {
            &DB_CONSTRAINT
        }
        E::Query(_) => &DB_QUERY,
        E::NotFound | E::Migration(_) | E::Url(_) | E::Io(_) => return,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    service: &'static str,
    method: Arc<str>,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    service: &'static str,
    method: Arc<str>,
}

/// Latency buckets: 0.25 ms doubling to ~8 s (16 buckets).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

struct RpcMetrics {
    service: &'static str,
    known_prefixes: Vec<String>,
    requests: Family<RpcLabels, Counter>,
    duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
}

impl RpcMetrics {
    fn method_label(&self, path: &str) -> Arc<str> {
        let known = self.known_prefixes.iter().any(|p| {
            path.strip_prefix(p.as_str())
                .is_some_and(|rest| !rest.contains('/'))
        }) || self.known_prefixes.iter().any(|p| p == path);
        Arc::from(if known { path } else { "other" })
    }

    fn observe(&self, method: Arc<str>, code: &'static str, seconds: f64) {
        self.requests
            .get_or_create(&RpcLabels {
                service: self.service,
                method: method.clone(),
                code,
            })
            .inc();
        self.duration
            .get_or_create(&MethodLabels {
                service: self.service,
                method,
            })
            .observe(seconds);
    }
}

/// The metrics of one service. Cheap to clone; clones share the figures.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    rpc: Arc<RpcMetrics>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("service", &self.rpc.service)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics of `service` (the `service` label, e.g. `"agent-runtime"`), counting RPCs of the
    /// gRPC services named in `grpc_services` (full names such as
    /// `"codelab.agent.v1.SessionService"`) and requests to the exact HTTP paths in
    /// `http_paths` (e.g. `"/.well-known/jwks.json"`); pools in `pools` (`(database name,
    /// pool)`) are read at each scrape.
    pub fn new(
        service: &'static str,
        grpc_services: &[&str],
        http_paths: &[&str],
        pools: Vec<(String, Pool)>,
    ) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RpcLabels, Counter>::default();
        let duration = Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "codelab_rpc_requests",
            "RPCs and HTTP requests answered, by method and status code",
            requests.clone(),
        );
        registry.register(
            "codelab_rpc_duration_seconds",
            "Time from request to response headers, by method",
            duration.clone(),
        );
        registry.register_collector(Box::new(DatabaseCollector { service, pools }));
        let mut known_prefixes: Vec<String> =
            grpc_services.iter().map(|s| format!("/{s}/")).collect();
        known_prefixes.extend(http_paths.iter().map(|p| (*p).to_owned()));
        Metrics {
            registry: Arc::new(registry),
            rpc: Arc::new(RpcMetrics {
                service,
                known_prefixes,
                requests,
                duration,
            }),
        }
    }

    /// A tower layer recording every request through the server it wraps (see the module
    /// documentation for the series).
    pub fn layer(&self) -> RpcMetricsLayer {
        RpcMetricsLayer {
            rpc: self.rpc.clone(),
        }
    }

    /// The current figures in the OpenMetrics text format (ends with `# EOF`).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail; an encoder error would be a bug in a collector.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        text
    }
}

/// Pool gauges and database error counters, read at scrape time.
#[derive(Debug)]
struct DatabaseCollector {
    service: &'static str,
    pools: Vec<(String, Pool)>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    service: &'static str,
    database: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WaitLabels {
    service: &'static str,
    database: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

impl Collector for DatabaseCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        {
            let mut family = encoder.encode_descriptor(
                "codelab_db_pool_connections",
                "Database connections of the pool, by state",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (database, pool) in &self.pools {
                let s = pool.status();
                for (state, value) in [
                    ("open", s.size),
                    ("idle", s.available),
                    ("in_use", s.size.saturating_sub(s.available)),
                    ("max", s.max_size),
                ] {
                    let labels = PoolLabels {
                        service: self.service,
                        database: database.clone(),
                        state,
                    };
                    ConstGauge::new(value as i64).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "codelab_db_pool_waiting",
                "Callers waiting for a database connection",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (database, pool) in &self.pools {
                let labels = WaitLabels {
                    service: self.service,
                    database: database.clone(),
                };
                ConstGauge::new(pool.status().waiting as i64)
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        let counts = db_error_counts();
        let mut family = encoder.encode_descriptor(
            "codelab_db_errors",
            "Database errors of this process, by kind",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (kind, value) in [
            ("unavailable", counts.unavailable),
            ("constraint", counts.constraint),
            ("query", counts.query),
        ] {
            ConstCounter::new(value).encode(family.encode_family(&KindLabels { kind })?)?;
        }
        Ok(())
    }
}

/// Tower layer made by [`Metrics::layer`].
#[derive(Clone)]
pub struct RpcMetricsLayer {
    rpc: Arc<RpcMetrics>,
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
fn grpc_code_name(value: &[u8]) -> &'static str {
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

/// Serves `GET /metrics` (and `GET /`, for a quick look) on `listener` until `shutdown`
/// resolves. Content type `application/openmetrics-text; version=1.0.0; charset=utf-8`.
///
/// # Errors
/// The listener's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let handler = move || {
        let metrics = metrics.clone();
        async move {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                metrics.render(),
            )
        }
    };
    let app = axum::Router::new()
        .route("/metrics", get(handler.clone()))
        .route("/", get(handler));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A running metrics endpoint (see [`serve`]), stopped with [`MetricsEndpoint::stop`].
#[derive(Debug)]
pub struct MetricsEndpoint {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Binds `addr` and serves `metrics` on it in a background task; logs the URL.
    ///
    /// # Errors
    /// The bind error (address in use, permission denied).
    pub async fn start(
        addr: std::net::SocketAddr,
        metrics: Metrics,
    ) -> std::io::Result<MetricsEndpoint> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            if let Err(e) = serve(listener, metrics, stopped).await {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        });
        Ok(MetricsEndpoint { addr, stop, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops accepting scrapes and waits for the endpoint to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
