//! Per-client-address request rate limit of every auth-service RPC and HTTP request (the
//! token endpoint is the target of credential stuffing; OWASP Authentication Cheat Sheet,
//! "Protect against automated attacks"). A GCRA token bucket per address (governor):
//! `requests_per_second` sustained, `burst` at once. The address is the one the lockout uses
//! ([`AddressSource`]): the TCP peer, or behind trusted proxies the `x-forwarded-for` entry
//! their count points at.
//!
//! A refused call gets `RESOURCE_EXHAUSTED` with `ErrorInfo` reason `RATE_LIMITED` and a
//! `RetryInfo` saying when the next call will be admitted (over HTTP: 429 with `Retry-After`).
//! This complements the lockout (failed logins counted in the database across replicas): the
//! rate limit is per process and caps every request, failed or not.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub use super::address::AddressSource;
pub use crate::config::RateLimitSettings;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Code, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The limiter shared by every auth-service RPC. Cheap to clone.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    source: AddressSource,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

impl RateLimit {
    /// A limiter with `settings`, keyed by the address `source` gives.
    pub fn new(settings: &RateLimitSettings, source: AddressSource) -> RateLimit {
        let limiter = NonZeroU32::new(settings.requests_per_second).map(|rate| {
            let burst =
                NonZeroU32::new(settings.burst.max(settings.requests_per_second)).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        RateLimit { limiter, source }
    }

    /// Admits a request from `ip` (`None`: unknown, always admitted), or says how long until
    /// its next request will be.
    ///
    /// # Errors
    /// The wait, at least 1 ms, when `ip` has used its burst.
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        let (Some(limiter), Some(ip)) = (&self.limiter, ip) else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .max(Duration::from_millis(1))
        })
    }

    /// The address `request` counts against ([`AddressSource::client_address`]).
    pub fn address<T>(&self, request: &Request<T>) -> Option<IpAddr> {
        self.source.client_address(request)
    }

    /// Admits `request` or refuses it ([`RateLimit::admit`] of its address).
    ///
    /// # Errors
    /// `RESOURCE_EXHAUSTED` (reason `RATE_LIMITED`, `RetryInfo`) when its address has used
    /// its burst.
    pub fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        self.admit(self.address(request)).map_err(|wait| {
            let mut details = ErrorDetails::with_error_info(
                "RATE_LIMITED",
                crate::grpc::status::DOMAIN,
                HashMap::from([("retry_after_ms".to_owned(), wait.as_millis().to_string())]),
            );
            details.set_retry_info(Some(wait));
            Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "too many requests from this address; retry in {} ms",
                    wait.as_millis()
                ),
                details,
            )
        })
    }

    /// Forgets addresses idle long enough to be back at a full burst (call periodically, so
    /// the table does not grow with every address ever seen).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Runs [`RateLimit::forget_idle`] every minute until the task is aborted.
    pub async fn forget_idle_periodically(self) {
        let mut ticker = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticker.tick().await;
            self.forget_idle();
        }
    }

    /// The limit as a tonic interceptor (`with_interceptor`).
    pub fn interceptor(
        &self,
    ) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + use<> {
        let limit = self.clone();
        move |request: Request<()>| limit.check(&request).map(|()| request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEHIND_ONE_PROXY: AddressSource = AddressSource::ForwardedFor { trusted_proxies: 1 };

    fn from(ip: &str) -> Request<()> {
        let mut r = Request::new(());
        r.metadata_mut()
            .insert("x-forwarded-for", ip.parse().unwrap());
        r
    }

    #[test]
    fn a_burst_is_admitted_then_refused_with_retry_info_per_address() {
        let limit = RateLimit::new(
            &RateLimitSettings {
                requests_per_second: 1,
                burst: 3,
            },
            BEHIND_ONE_PROXY,
        );
        for _ in 0..3 {
            limit.check(&from("10.0.0.1")).unwrap();
        }
        let refused = limit.check(&from("10.0.0.1")).unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        let details = refused.get_error_details();
        assert_eq!(details.error_info().unwrap().reason, "RATE_LIMITED");
        let retry = details.retry_info().unwrap().retry_delay.unwrap();
        assert!(
            retry > Duration::ZERO && retry <= Duration::from_secs(1),
            "{retry:?}"
        );
        // Another address has its own bucket.
        limit.check(&from("10.0.0.2")).unwrap();
    }

    #[test]
    fn zero_turns_it_off() {
        let off = RateLimit::new(
            &RateLimitSettings {
                requests_per_second: 0,
                burst: 0,
            },
            BEHIND_ONE_PROXY,
        );
        for _ in 0..1000 {
            off.check(&from("10.0.0.1")).unwrap();
        }
    }

    #[test]
    fn behind_a_proxy_the_client_written_part_does_not_pick_the_bucket() {
        let limit = RateLimit::new(
            &RateLimitSettings {
                requests_per_second: 1,
                burst: 2,
            },
            BEHIND_ONE_PROXY,
        );
        limit.check(&from("1.1.1.1, 10.0.0.1")).unwrap();
        limit.check(&from("2.2.2.2, 10.0.0.1")).unwrap();
        limit
            .check(&from("3.3.3.3, 10.0.0.1"))
            .expect_err("same proxy-written address, same bucket");
        limit.check(&from("1.1.1.1, 10.0.0.2")).unwrap();
    }
}
