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

mod db;
mod endpoint;
mod layer;
mod rpc;
#[cfg(test)]
mod tests;

pub(crate) use db::count_db_error;
pub use db::{DbErrorCounts, db_error_counts};
pub use endpoint::{MetricsEndpoint, serve};
pub use layer::{RpcMetricsLayer, RpcMetricsService};

use crate::Pool;
use db::DatabaseCollector;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rpc::{MethodLabels, RpcLabels, RpcMetrics, latency_histogram};
use std::sync::Arc;

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
