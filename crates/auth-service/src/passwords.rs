//! Password and client-secret hashing: argon2id at the OWASP Password Storage Cheat Sheet
//! parameters (m = 19 MiB, t = 2, p = 1), stored as PHC strings. bcrypt hashes (`$2a$`, `$2b$`,
//! `$2y$`, the original service's passlib format) are verified and reported as needing a
//! rehash, so imported users move to argon2id on their next login.
//!
//! Hashing is CPU- and memory-heavy by design. It runs on tokio's blocking pool, at most
//! [`PasswordSettings::max_concurrent`] at a time, so a burst of logins can neither stall the
//! async executor nor take every core from the RPCs of other callers.

use crate::client_secrets;
use crate::error::{Error, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

/// `AUTH_SERVICE__PASSWORD__*`: argon2id cost and hashing concurrency.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct PasswordSettings {
    /// Memory cost, KiB. Default 19456 (19 MiB, OWASP minimum).
    pub memory_kib: u32,
    /// Iterations. Default 2 (OWASP).
    pub iterations: u32,
    /// Lanes. Default 1 (OWASP).
    pub parallelism: u32,
    /// Hashes computed at once; 0 = half the CPUs (at least 1).
    pub max_concurrent: usize,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        PasswordSettings {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
        }
    }
}

impl PasswordSettings {
    /// Whether the cost is below the OWASP recommendation (logged as a warning at start).
    pub fn below_owasp(&self) -> bool {
        self.memory_kib < 19 * 1024 || self.iterations < 2 || self.parallelism < 1
    }
}

/// Outcome of a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matches.
    pub ok: bool,
    /// The stored hash uses other parameters (or bcrypt): store a fresh hash.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords and client secrets. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("m_kib", &self.params.m_cost())
            .field("t", &self.params.t_cost())
            .field("p", &self.params.p_cost())
            .finish()
    }
}

impl Passwords {
    /// A hasher with `settings`.
    ///
    /// # Errors
    /// `InvalidArgument` naming `AUTH_SERVICE__PASSWORD__…` when argon2 rejects the parameters.
    pub fn new(settings: &PasswordSettings) -> Result<Passwords> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| Error::invalid("AUTH_SERVICE__PASSWORD", format!("argon2 parameters: {e}")))?;
        let permits = if settings.max_concurrent == 0 {
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
        } else {
            settings.max_concurrent
        };
        Ok(Passwords {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            dummy: Arc::new(OnceCell::new()),
        })
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Hashes `secret` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a random
    /// 16-byte salt.
    ///
    /// # Errors
    /// `Internal` if hashing fails (not expected) or the blocking pool is gone.
    pub async fn hash(&self, secret: &SecretString) -> Result<String> {
        let secret = SecretString::from(secret.expose_secret().to_owned());
        let params = self.params.clone();
        self.run(move || {
            let mut salt = [0u8; 16];
            rand::rng().fill_bytes(&mut salt);
            let salt =
                SaltString::encode_b64(&salt).map_err(|e| Error::Internal(format!("salt: {e}")))?;
            Passwords::argon2(params)
                .hash_password(secret.expose_secret().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::Internal(format!("argon2: {e}")))
        })
        .await
    }

    /// Checks `secret` against a stored PHC string (argon2) or bcrypt hash. An unparsable
    /// stored hash never matches (logged), it is not an error for the caller.
    ///
    /// # Errors
    /// `Internal` when the blocking pool is gone.
    pub async fn verify(&self, secret: &SecretString, stored: &str) -> Result<Verified> {
        let secret = SecretString::from(secret.expose_secret().to_owned());
        let stored = stored.to_owned();
        let params = self.params.clone();
        self.run(move || Ok(verify_blocking(&params, &secret, &stored)))
            .await
    }

    /// Spends the time of one verification against a hash of the current parameters, for
    /// paths that have no stored hash (unknown user), so they answer as slowly as a wrong
    /// password does and timing does not reveal whether a username exists.
    ///
    /// # Errors
    /// `Internal` when the blocking pool is gone.
    pub async fn verify_dummy(&self, secret: &SecretString) -> Result<()> {
        let dummy = self
            .dummy
            .get_or_try_init(|| async {
                self.hash(&SecretString::from("codelab-timing-equalizer".to_owned()))
                    .await
            })
            .await?
            .clone();
        self.verify(secret, &dummy).await.map(|_| ())
    }

    /// Spends the time of one verification for a login of an unknown user, against `like`:
    /// the stored hash of an existing user chosen by the username
    /// ([`crate::store::Store::timing_sample`]), so the work is of the very kind real users'
    /// hashes cost — bcrypt of an imported user, an older argon2 parameter set, or the current
    /// one — in the proportions they are stored, and the same for every try of one name. With
    /// no user stored, a hash of the current parameters ([`Passwords::verify_dummy`]).
    ///
    /// # Errors
    /// `Internal` when the blocking pool is gone.
    pub async fn verify_unknown_user(
        &self,
        secret: &SecretString,
        like: Option<String>,
    ) -> Result<()> {
        match like {
            Some(stored) => self.verify(secret, &stored).await.map(|_| ()),
            None => self.verify_dummy(secret).await,
        }
    }

    /// The stored form of a new client secret: the SHA-256 form for a secret of at least
    /// [`client_secrets::MIN_FAST_SECRET_BYTES`] bytes, an argon2 hash for a shorter one.
    ///
    /// # Errors
    /// As [`Passwords::hash`].
    pub async fn hash_client_secret(&self, secret: &SecretString) -> Result<String> {
        if client_secrets::fast_form_fits(secret) {
            Ok(client_secrets::sha256_form(secret))
        } else {
            self.hash(secret).await
        }
    }

    /// Checks a client secret against its stored form: the SHA-256 form in constant time
    /// without the hashing pool, a password hash as [`Passwords::verify`] does. `needs_rehash`
    /// is set when [`Passwords::hash_client_secret`] would store something else (an argon2
    /// hash of a long secret moves to the SHA-256 form).
    ///
    /// # Errors
    /// As [`Passwords::verify`].
    pub async fn verify_client_secret(
        &self,
        secret: &SecretString,
        stored: &str,
    ) -> Result<Verified> {
        if client_secrets::is_sha256_form(stored) {
            return Ok(Verified {
                ok: client_secrets::verify_sha256_form(secret, stored),
                needs_rehash: false,
            });
        }
        let v = self.verify(secret, stored).await?;
        Ok(Verified {
            ok: v.ok,
            needs_rehash: v.needs_rehash || client_secrets::fast_form_fits(secret),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("password hasher closed".to_owned()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::Internal(format!("password hashing task: {e}")))?
    }
}

fn verify_blocking(params: &Params, secret: &SecretString, stored: &str) -> Verified {
    let no = Verified {
        ok: false,
        needs_rehash: false,
    };
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        return match bcrypt::verify(secret.expose_secret(), stored) {
            Ok(ok) => Verified {
                ok,
                needs_rehash: true,
            },
            Err(e) => {
                tracing::warn!(error = %e, "stored bcrypt hash does not parse");
                no
            }
        };
    }
    let parsed = match PasswordHash::new(stored) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash does not parse");
            return no;
        }
    };
    let ok = Passwords::argon2(params.clone())
        .verify_password(secret.expose_secret().as_bytes(), &parsed)
        .is_ok();
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == params.m_cost()
                && p.t_cost() == params.t_cost()
                && p.p_cost() == params.p_cost()
        });
    Verified {
        ok,
        needs_rehash: !current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Passwords {
        Passwords::new(&PasswordSettings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
        })
        .unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn owasp_defaults_hash_as_argon2id_phc() {
        let p = Passwords::new(&PasswordSettings::default()).unwrap();
        let h = p.hash(&secret("correct horse")).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        let v = p.verify(&secret("correct horse"), &h).await.unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        assert!(!p.verify(&secret("wrong"), &h).await.unwrap().ok);
    }

    #[tokio::test]
    async fn other_parameters_need_a_rehash() {
        let weak = fast();
        let h = weak.hash(&secret("pw-12345")).await.unwrap();
        let strong = Passwords::new(&PasswordSettings::default()).unwrap();
        let v = strong.verify(&secret("pw-12345"), &h).await.unwrap();
        assert!(v.ok && v.needs_rehash);
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_and_need_a_rehash() {
        let h = bcrypt::hash("internal-secret-123", 4).unwrap();
        let p = fast();
        let v = p.verify(&secret("internal-secret-123"), &h).await.unwrap();
        assert!(v.ok && v.needs_rehash);
        assert!(!p.verify(&secret("nope"), &h).await.unwrap().ok);
    }

    #[tokio::test]
    async fn garbage_hash_never_matches() {
        let p = fast();
        let v = p.verify(&secret(""), "not a hash").await.unwrap();
        assert!(!v.ok);
        p.verify_dummy(&secret("x")).await.unwrap();
    }
}
