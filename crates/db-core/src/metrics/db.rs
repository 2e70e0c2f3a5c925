//! Database figures: the process-wide error counters and the pool gauges read at scrape time.

use crate::Pool;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Pool gauges and database error counters, read at scrape time.
#[derive(Debug)]
pub(crate) struct DatabaseCollector {
    pub(crate) service: &'static str,
    pub(crate) pools: Vec<(String, Pool)>,
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
