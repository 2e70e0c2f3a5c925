//! The RPC series: requests by method and code, and the latency histogram.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RpcLabels {
    service: &'static str,
    method: Arc<str>,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodLabels {
    service: &'static str,
    method: Arc<str>,
}

/// Latency buckets: 0.25 ms doubling to ~8 s (16 buckets).
pub(crate) fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The RPC series of one service, shared by [`Metrics`](super::Metrics) and its layers.
pub(crate) struct RpcMetrics {
    pub(crate) service: &'static str,
    pub(crate) known_prefixes: Vec<String>,
    pub(crate) requests: Family<RpcLabels, Counter>,
    pub(crate) duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
}

impl RpcMetrics {
    /// The `method` label of a request `path`: the path if known, else `other`.
    pub(crate) fn method_label(&self, path: &str) -> Arc<str> {
        let known = self.known_prefixes.iter().any(|p| {
            path.strip_prefix(p.as_str())
                .is_some_and(|rest| !rest.contains('/'))
        }) || self.known_prefixes.iter().any(|p| p == path);
        Arc::from(if known { path } else { "other" })
    }

    /// Records one answered request of `method` with `code`, taking `seconds`.
    pub(crate) fn observe(&self, method: Arc<str>, code: &'static str, seconds: f64) {
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
