//! Per-client-address request rate limit of every auth-service RPC (the token endpoint is the
//! target of credential stuffing; OWASP Authentication Cheat Sheet, "Protect against automated
//! attacks"). A GCRA token bucket per address (governor): `requests_per_second` sustained,
//! `burst` at once. The address is the first `x-forwarded-for` entry when
//! `AUTH_SERVICE__LOCKOUT__TRUST_FORWARDED_FOR` is on (behind a gateway), else the TCP peer.
//!
//! A refused call gets `RESOURCE_EXHAUSTED` with `ErrorInfo` reason `RATE_LIMITED` and a
//! `RetryInfo` saying when the next call will be admitted. This complements the lockout
//! (failed logins counted in the database across replicas): the rate limit is per process and
//! caps every RPC, failed or not.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

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
    trust_forwarded_for: bool,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

impl RateLimit {
    /// A limiter with `settings`, reading `x-forwarded-for` when `trust_forwarded_for`.
    pub fn new(settings: &RateLimitSettings, trust_forwarded_for: bool) -> RateLimit {
        let limiter = NonZeroU32::new(settings.requests_per_second).map(|rate| {
            let burst =
                NonZeroU32::new(settings.burst.max(settings.requests_per_second)).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        RateLimit {
            limiter,
            trust_forwarded_for,
        }
    }

    /// Admits `request` or refuses it.
    ///
    /// # Errors
    /// `RESOURCE_EXHAUSTED` (reason `RATE_LIMITED`, `RetryInfo`) when its address has used
    /// its burst.
    pub fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let Some(ip) = client_address(request, self.trust_forwarded_for) else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until
                .wait_time_from(DefaultClock::default().now())
                .max(Duration::from_millis(1));
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

/// The address a request counts against: the first `x-forwarded-for` entry when trusted and
/// parsable, else the TCP peer; `None` when neither is known (in-process calls).
pub fn client_address<T>(request: &Request<T>, trust_forwarded_for: bool) -> Option<IpAddr> {
    let forwarded = trust_forwarded_for
        .then(|| request.metadata().get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|ip| ip.trim().parse::<IpAddr>().ok());
    forwarded.or_else(|| request.remote_addr().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            true,
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
    fn zero_turns_it_off_and_untrusted_forwarded_for_is_ignored() {
        let off = RateLimit::new(
            &RateLimitSettings {
                requests_per_second: 0,
                burst: 0,
            },
            true,
        );
        for _ in 0..1000 {
            off.check(&from("10.0.0.1")).unwrap();
        }
        assert_eq!(client_address(&from("10.0.0.9"), false), None);
        assert_eq!(
            client_address(&from("10.0.0.9, 192.168.1.1"), true),
            Some("10.0.0.9".parse().unwrap())
        );
    }
}
