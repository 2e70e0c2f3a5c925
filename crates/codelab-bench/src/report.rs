//! Bench reports: a text table for people, one JSON object for scripts (`--json`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::RunOpts;
use crate::runner::Measurement;

/// The outcome of one `codelab-bench` run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `append`, `list` or `stats`.
    pub workload: String,
    /// Server address.
    pub addr: String,
    /// Concurrent clients.
    pub clients: u32,
    /// Measured window per phase, in seconds.
    pub duration_s: f64,
    /// Warm-up per phase, in seconds.
    pub warmup_s: f64,
    /// Where message texts came from (`synthetic 256 B`, `corpus of 2000 messages`).
    pub messages: String,
    /// One row per phase (`list` has one per page).
    pub results: Vec<Row>,
}

impl Report {
    /// The report of a run of `workload` against `addr` driven by `run`, with `messages`
    /// describing the texts sent and one row per phase.
    pub fn new(
        workload: &str,
        addr: String,
        run: &RunOpts,
        messages: String,
        results: Vec<Row>,
    ) -> Report {
        Report {
            workload: workload.to_owned(),
            addr,
            clients: run.clients,
            duration_s: run.duration.as_secs_f64(),
            warmup_s: run.warmup.as_secs_f64(),
            messages,
            results,
        }
    }
}

/// The figures of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Phase name: `append`, `page 2000`, `stats`.
    pub name: String,
    /// Successful calls in the measured window.
    pub ops: u64,
    /// Successful calls per second.
    pub ops_per_sec: f64,
    /// Latency of successful calls, in milliseconds.
    pub latency_ms: Latency,
    /// Failed calls.
    pub error_count: u64,
    /// Failed calls by gRPC code.
    pub errors: BTreeMap<String, u64>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest call.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Row {
    /// The row of a phase named `name`.
    pub fn new(name: impl Into<String>, m: &Measurement) -> Row {
        let h = &m.histogram;
        let ms = |us: u64| us as f64 / 1000.0;
        let latency = if h.is_empty() {
            Latency {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                max: 0.0,
                mean: 0.0,
            }
        } else {
            Latency {
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            }
        };
        Row {
            name: name.into(),
            ops: m.ops,
            ops_per_sec: m.ops_per_sec(),
            latency_ms: latency,
            error_count: m.error_count(),
            errors: m.errors.clone(),
        }
    }
}

impl Report {
    /// Prints the report on stdout: JSON when `json`, else a header and a table.
    ///
    /// # Errors
    /// Serialization errors (none expected).
    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            codelab::output::println(&serde_json::to_string(self)?)?;
        } else {
            codelab::output::print(&self.text())?;
        }
        Ok(())
    }

    /// The human-readable form.
    pub fn text(&self) -> String {
        let mut out = format!(
            "bench {} against {}: {} clients, {:.1} s warm-up + {:.1} s measured, messages: {}\n",
            self.workload, self.addr, self.clients, self.warmup_s, self.duration_s, self.messages
        );
        out.push_str(&format!(
            "{:<12} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}  errors\n",
            "phase", "ops", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        ));
        for r in &self.results {
            let errors = if r.errors.is_empty() {
                "0".to_owned()
            } else {
                r.errors
                    .iter()
                    .map(|(c, n)| format!("{c}={n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            out.push_str(&format!(
                "{:<12} {:>9} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {errors}\n",
                r.name,
                r.ops,
                r.ops_per_sec,
                r.latency_ms.p50,
                r.latency_ms.p90,
                r.latency_ms.p99,
                r.latency_ms.max
            ));
        }
        out
    }
}
