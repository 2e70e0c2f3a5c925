//! [`RefreshingKeys`]: the cached JWK Set and when it is fetched again.
//!
//! At start the set is fetched with retries until it arrives or the start-up wait is over.
//! Later a token naming an unknown `kid` triggers one refetch (rate limited, and shared by
//! concurrent callers), and a set older than its maximum age is refetched in the background
//! while the cached keys keep answering. A failed refetch, or one that yields no usable key,
//! keeps the cached keys (with a warning): a briefly unavailable key source must not lock every
//! caller out.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use access_token::{AuthError, CachedKeys, KeyCache, KeySet};

use super::sources::JwksSource;

/// The key cache of one key source, with its refresh rules. Share it in an `Arc`.
pub(super) struct RefreshingKeys {
    source: Arc<dyn JwksSource>,
    cache: KeyCache,
    fetch_timeout: Duration,
    refresh_min_interval: Duration,
    max_age: Duration,
    /// Serializes fetches after start-up (unknown kid and background), so concurrent callers
    /// share one; holds when the last unknown-kid refetch started.
    refetch: tokio::sync::Mutex<Option<Instant>>,
    background: Mutex<BackgroundState>,
}

struct BackgroundState {
    running: bool,
    last_attempt: Option<Instant>,
}

impl RefreshingKeys {
    /// An empty cache over `source`: each fetch bounded by `fetch_timeout`; refetches at most
    /// once per `refresh_min_interval`; a background refetch once the set is `max_age` old.
    pub(super) fn new(
        source: Arc<dyn JwksSource>,
        fetch_timeout: Duration,
        refresh_min_interval: Duration,
        max_age: Duration,
    ) -> RefreshingKeys {
        RefreshingKeys {
            source,
            cache: KeyCache::new(),
            fetch_timeout,
            refresh_min_interval,
            max_age,
            refetch: tokio::sync::Mutex::new(None),
            background: Mutex::new(BackgroundState {
                running: false,
                last_attempt: None,
            }),
        }
    }

    /// Where the keys come from (for logs).
    pub(super) fn describe(&self) -> String {
        self.source.describe()
    }

    /// The cache: the keys in use and the tokens verified against them.
    pub(super) fn cache(&self) -> &KeyCache {
        &self.cache
    }

    /// One bounded fetch, filtered to usable keys; none usable is an error.
    async fn fetch_keys(&self) -> Result<KeySet, AuthError> {
        let origin = self.source.describe();
        let set = tokio::time::timeout(self.fetch_timeout, self.source.fetch())
            .await
            .map_err(|_| {
                AuthError::JwksUnavailable(format!(
                    "{origin}: fetch timed out after {} ms",
                    self.fetch_timeout.as_millis()
                ))
            })??;
        let keys = KeySet::from_jwk_set(&set, &origin);
        if keys.is_empty() {
            return Err(AuthError::JwksUnavailable(format!(
                "{origin}: JWK Set has no usable signing key ({} keys, none asymmetric with a supported algorithm)",
                set.keys.len()
            )));
        }
        Ok(keys)
    }

    /// A fetch retried with backoff (0.2 s doubling to 2 s) until it succeeds or `wait` has
    /// passed; then the last error. The keys are returned, not installed.
    pub(super) async fn fetch_at_start(&self, wait: Duration) -> Result<KeySet, AuthError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1u32;
        loop {
            match self.fetch_keys().await {
                Ok(keys) => return Ok(keys),
                Err(error) => {
                    let left = wait.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(error);
                    }
                    tracing::warn!(
                        %error,
                        attempt,
                        retry_in_ms = delay.min(left).as_millis() as u64,
                        waited_ms = started.elapsed().as_millis() as u64,
                        "JWK Set not available yet; waiting for the key source"
                    );
                    tokio::time::sleep(delay.min(left)).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    attempt += 1;
                }
            }
        }
    }

    /// Refetch after an unknown kid: at most once per `refresh_min_interval`, and not at all
    /// if another caller refreshed since `seen_generation`. A failure keeps the cached keys.
    pub(super) async fn refetch_for_unknown_kid(&self, seen_generation: u64) {
        let mut last = self.refetch.lock().await;
        if self.cache.snapshot().generation != seen_generation {
            return; // someone refreshed while we waited: use their result
        }
        if last.is_some_and(|at| at.elapsed() < self.refresh_min_interval) {
            tracing::debug!("unknown kid: JWK Set refetch skipped (rate limited)");
            return;
        }
        *last = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(keys) => {
                tracing::info!(jwks = %self.source.describe(), keys = keys.len(), "JWK Set refetched after unknown kid");
                self.cache.install(keys);
            }
            Err(error) => tracing::warn!(%error, "JWK Set refetch failed; keeping cached keys"),
        }
    }

    /// Starts a background refetch if `current` is older than `max_age` (one at a time,
    /// attempts at most once per `refresh_min_interval`). Needs a tokio runtime; without one it
    /// does nothing.
    pub(super) fn maybe_refresh_in_background(self: &Arc<Self>, current: &CachedKeys) {
        if current.fetched_at.elapsed() < self.max_age {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut bg = self
                .background
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if bg.running
                || bg
                    .last_attempt
                    .is_some_and(|at| at.elapsed() < self.refresh_min_interval)
            {
                return;
            }
            bg.running = true;
            bg.last_attempt = Some(Instant::now());
        }
        let guard = BackgroundGuard(Arc::clone(self));
        runtime.spawn(async move {
            let this = &guard.0;
            let _serialized = this.refetch.lock().await;
            if this.cache.snapshot().fetched_at.elapsed() < this.max_age {
                return; // refreshed meanwhile
            }
            match this.fetch_keys().await {
                Ok(keys) => {
                    tracing::debug!(jwks = %this.source.describe(), keys = keys.len(), "JWK Set refreshed (max age reached)");
                    this.cache.install(keys);
                }
                Err(error) => {
                    tracing::warn!(%error, "background JWK Set refresh failed; keeping cached keys");
                }
            }
        });
    }
}

/// Clears `BackgroundState::running` when the background task ends (also on
/// panic or cancellation).
struct BackgroundGuard(Arc<RefreshingKeys>);

impl Drop for BackgroundGuard {
    fn drop(&mut self) {
        self.0
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .running = false;
    }
}
