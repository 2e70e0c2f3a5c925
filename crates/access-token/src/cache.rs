//! [`KeyCache`]: the key set a verifier uses now, and the tokens already verified against it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sha2::Digest as _;

use crate::jwks::KeySet;
use crate::principal::Principal;

/// Most tokens remembered as verified; when full, the memory starts again empty.
pub const VERIFIED_CACHE_ENTRIES: usize = 10_000;

/// One installed key set.
pub struct CachedKeys {
    /// The usable keys.
    pub keys: KeySet,
    /// When they were installed (fetched).
    pub fetched_at: Instant,
    /// Incremented on every install; lets concurrent callers see that someone else already
    /// refreshed, and invalidates the verified tokens.
    pub generation: u64,
}

/// The current key set (swapped whole on every install; readers keep the snapshot they took)
/// and the access tokens verified against it.
///
/// A client sends the same token on every RPC for its whole lifetime, and an RSA-2048
/// signature check costs far more than the RPC it guards; a remembered token costs one sha256
/// of the token and one lookup. Only a token's signature and static claims (`iss`, `aud`,
/// `sub`, `type`, algorithm, key) are remembered: `exp` and `nbf` are checked on every hit, and
/// the memory is emptied whenever the key set changes, so a key withdrawn from the JWK Set
/// stops being trusted at once.
pub struct KeyCache {
    current: RwLock<Arc<CachedKeys>>,
    verified: Mutex<VerifiedTokens>,
}

/// Verified tokens by sha256, with their principal, `exp` and `nbf`.
#[derive(Default)]
struct VerifiedTokens {
    generation: u64,
    entries: HashMap<[u8; 32], (Principal, i64, Option<i64>)>,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::new()
    }
}

impl KeyCache {
    /// An empty cache: no key, generation 0.
    pub fn new() -> KeyCache {
        KeyCache {
            current: RwLock::new(Arc::new(CachedKeys {
                keys: KeySet::default(),
                fetched_at: Instant::now(),
                generation: 0,
            })),
            verified: Mutex::new(VerifiedTokens::default()),
        }
    }

    /// The key set in use now.
    pub fn snapshot(&self) -> Arc<CachedKeys> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Makes `keys` the key set in use, fetched now, with the next generation.
    pub fn install(&self, keys: KeySet) {
        let mut slot = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let generation = slot.generation + 1;
        *slot = Arc::new(CachedKeys {
            keys,
            fetched_at: Instant::now(),
            generation,
        });
    }

    /// The principal of a token remembered by [`KeyCache::remember`] under `digest` (see
    /// [`token_digest`]), if the key set has not changed since and the token is within its
    /// time bounds, with `leeway_secs` of clock skew.
    pub fn remembered(&self, digest: &[u8; 32], leeway_secs: u64) -> Option<Principal> {
        let generation = self.snapshot().generation;
        let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.generation != generation {
            return None;
        }
        let (principal, exp, nbf) = verified.entries.get(digest)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let leeway = leeway_secs as i64;
        if now > exp + leeway || nbf.is_some_and(|nbf| now < nbf - leeway) {
            return None;
        }
        Some(principal.clone())
    }

    /// Remembers that the token with `digest` verified as `principal` against the key set of
    /// `generation`, valid until `exp` and from `nbf` (seconds since the epoch).
    pub fn remember(
        &self,
        generation: u64,
        digest: [u8; 32],
        principal: Principal,
        exp: i64,
        nbf: Option<i64>,
    ) {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.generation != generation || verified.entries.len() >= VERIFIED_CACHE_ENTRIES {
            verified.entries.clear();
            verified.generation = generation;
        }
        verified.entries.insert(digest, (principal, exp, nbf));
    }
}

/// The sha256 of a token: how [`KeyCache`] remembers it without keeping it.
pub fn token_digest(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}
