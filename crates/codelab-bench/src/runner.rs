//! The timed loop shared by every workload: N clients, warm-up, measurement, histograms.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use codelab::client::code_name;

/// Highest latency the histograms hold, in microseconds (a minute: above every deadline).
const MAX_LATENCY_US: u64 = 60_000_000;

/// Pause after a failed call, so an unreachable server is not hammered in a tight loop.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// One client of a workload: makes one call at a time.
pub trait Workload: Send + 'static {
    /// Makes one call; `Err` is counted by its gRPC code.
    fn call(&mut self) -> impl Future<Output = Result<(), tonic::Status>> + Send;
}

/// What one workload phase measured.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Successful calls that started during the measured window.
    pub ops: u64,
    /// Failed calls of the measured window, by gRPC code name (`UNAVAILABLE` …).
    pub errors: BTreeMap<String, u64>,
    /// From the end of the warm-up to the completion of the last measured call.
    pub elapsed: Duration,
    /// Latencies of the successful measured calls, in microseconds.
    pub histogram: Histogram<u64>,
}

impl Measurement {
    fn new() -> Measurement {
        Measurement {
            ops: 0,
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
            histogram: new_histogram(),
        }
    }

    /// Successful calls per second of the measured window.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ops as f64 / secs
        } else {
            0.0
        }
    }

    /// Failed calls of the measured window.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

fn new_histogram() -> Histogram<u64> {
    // Three significant digits from 1 µs to a minute; these bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Runs every client in `clients` concurrently: calls for `warmup` without measuring, then for
/// `duration` while measuring; a call is measured when it starts inside the measured window.
///
/// Returns when every client's last call has completed (each call is bounded by its deadline).
pub async fn drive<W: Workload>(
    clients: Vec<W>,
    warmup: Duration,
    duration: Duration,
) -> Measurement {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut m = Measurement::new();
                let mut last_done = measure_from;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let result = client.call().await;
                    let t1 = Instant::now();
                    let measured = t0 >= measure_from;
                    match result {
                        Ok(()) if measured => {
                            let us = u64::try_from((t1 - t0).as_micros()).unwrap_or(u64::MAX);
                            m.histogram.saturating_record(us.clamp(1, MAX_LATENCY_US));
                            m.ops += 1;
                        }
                        Ok(()) => {}
                        Err(status) => {
                            if measured {
                                *m.errors
                                    .entry(code_name(status.code()).to_owned())
                                    .or_default() += 1;
                            }
                            tokio::time::sleep_until((t1 + ERROR_PAUSE).min(end)).await;
                        }
                    }
                    if measured {
                        last_done = t1;
                    }
                }
                m.elapsed = last_done.saturating_duration_since(measure_from);
                m
            })
        })
        .collect();
    let mut total = Measurement::new();
    for task in tasks {
        match task.await {
            Ok(m) => {
                total.ops += m.ops;
                for (code, n) in m.errors {
                    *total.errors.entry(code).or_default() += n;
                }
                total.elapsed = total.elapsed.max(m.elapsed);
                // Same bounds on both sides: adding cannot fail.
                let _ = total.histogram.add(&m.histogram);
            }
            Err(e) => {
                // A panicking client is a bug of this tool; count it rather than lose the run.
                tracing::error!(error = %e, "bench client task failed");
                *total.errors.entry("CLIENT_PANIC".to_owned()).or_default() += 1;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sleepy {
        n: u64,
    }

    impl Workload for Sleepy {
        fn call(&mut self) -> impl Future<Output = Result<(), tonic::Status>> + Send {
            self.n += 1;
            let fail = self.n.is_multiple_of(5);
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                if fail {
                    Err(tonic::Status::unavailable("down"))
                } else {
                    Ok(())
                }
            }
        }
    }

    #[tokio::test]
    async fn measures_ops_latency_and_errors() {
        let m = drive(
            vec![Sleepy { n: 0 }, Sleepy { n: 0 }],
            Duration::from_millis(50),
            Duration::from_millis(300),
        )
        .await;
        assert!(m.ops > 10, "{m:?}");
        assert!(m.errors["UNAVAILABLE"] > 0, "{m:?}");
        assert!(m.histogram.value_at_quantile(0.5) >= 2000, "{m:?}");
        assert!(
            m.elapsed >= Duration::from_millis(250) && m.elapsed < Duration::from_secs(2),
            "{m:?}"
        );
        assert!(m.ops_per_sec() > 0.0);
    }
}
