//! Envelope encryption of signing keys under a key-encryption key (KEK), as Ory Hydra does with
//! its system secret: whoever reads the database, a backup or a `codelab db copy` without the
//! KEK cannot sign tokens.
//!
//! The KEK comes from `AUTH_SERVICE__KEY_ENCRYPTION_KEY` (base64 of 32 random bytes, e.g.
//! `openssl rand -base64 32`) or `AUTH_SERVICE__KEY_ENCRYPTION_KEY_FILE` (a file holding that
//! text: a Docker or Kubernetes secret). Several comma-separated KEKs rotate it: the first
//! encrypts, every one may decrypt, and `codelab auth rotate-kek` re-encrypts every row under the
//! first.
//!
//! Each private key is sealed with AES-256-GCM (NIST SP 800-38D; crate `aes-gcm`), a fresh
//! random 96-bit nonce per encryption, and the row's `kid` as associated data, so a ciphertext
//! copied onto another row does not decrypt. The envelope is a self-describing string kept in
//! the existing `signing_keys.private_key_pem` column:
//!
//! ```text
//! kek1:<KEK id, 8 hex>:<nonce, base64url>:<ciphertext and tag, base64url>
//! ```
//!
//! The KEK id is the first 4 bytes of the KEK's SHA-256: it tells which configured KEK opens
//! the row without revealing the KEK. Why the existing column rather than a new one: the
//! envelope tells plaintext rows (PEM, `-----BEGIN`) from sealed ones by itself, so the first
//! start with a KEK seals old rows in place in one transaction, backups and `db copy` keep
//! their table layout, and restoring an older (plaintext) backup is sealed again the same way.
//! No plaintext is ever accepted where a sealed key is expected, except by that sealing pass.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// The variable holding the KEK(s), named by every KEK error.
pub const KEK_ENV: &str = "AUTH_SERVICE__KEY_ENCRYPTION_KEY";

/// The variable naming a file that holds the KEK(s).
pub const KEK_FILE_ENV: &str = "AUTH_SERVICE__KEY_ENCRYPTION_KEY_FILE";

/// Bytes of a KEK (AES-256).
pub const KEK_BYTES: usize = 32;

/// Largest KEK file read, bytes (a list of a few dozen base64 KEKs fits).
pub const MAX_KEK_FILE_BYTES: u64 = 4096;

/// Version prefix of a sealed key.
const ENVELOPE: &str = "kek1";

/// Bytes of an AES-GCM nonce.
const NONCE_BYTES: usize = 12;

/// A KEK problem: missing, malformed, unreadable, or unable to open a stored key. Every
/// message names [`KEK_ENV`] (or [`KEK_FILE_ENV`]) and never contains a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KekError(pub String);

struct Kek {
    id: String,
    cipher: Aes256Gcm,
}

/// The configured KEKs, the first one encrypting. Cheap to clone; `Debug` shows only ids.
#[derive(Clone)]
pub struct Keks {
    keys: Arc<Vec<Kek>>,
}

impl std::fmt::Debug for Keks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keks").field("ids", &self.ids()).finish()
    }
}

impl Keks {
    /// Parses a comma-separated list of base64 (RFC 4648 §4) KEKs of 32 bytes each; blanks
    /// around entries are ignored.
    ///
    /// # Errors
    /// [`KekError`] naming `variable` when the list is empty or an entry is not base64 of 32
    /// bytes (which entry, never its value).
    pub fn parse(list: &SecretString, variable: &str) -> Result<Keks, KekError> {
        let mut keys = Vec::new();
        for (n, entry) in list.expose_secret().split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let bytes = secrecy::zeroize::Zeroizing::new(STANDARD.decode(entry).map_err(|_| {
                KekError(format!(
                    "{variable}: entry {} is not base64 (generate one with `openssl rand -base64 32`)",
                    n + 1
                ))
            })?);
            if bytes.len() != KEK_BYTES {
                return Err(KekError(format!(
                    "{variable}: entry {} is {} bytes, expected {KEK_BYTES} (generate one with \
                     `openssl rand -base64 32`)",
                    n + 1,
                    bytes.len()
                )));
            }
            let id = Sha256::digest(bytes.as_slice())[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| KekError(format!("{variable}: entry {} is unusable", n + 1)))?;
            keys.push(Kek { id, cipher });
        }
        if keys.is_empty() {
            return Err(KekError(format!("{variable} is empty")));
        }
        Ok(Keks {
            keys: Arc::new(keys),
        })
    }

    /// The KEKs from the configuration: `key` ([`KEK_ENV`]) when set, else the content of
    /// `file` ([`KEK_FILE_ENV`], at most [`MAX_KEK_FILE_BYTES`]).
    ///
    /// # Errors
    /// [`KekError`] naming the variable: neither set, both set, an unreadable file, or a
    /// malformed list.
    pub fn from_settings(
        key: Option<&SecretString>,
        file: Option<&Path>,
    ) -> Result<Keks, KekError> {
        let key = key.filter(|k| !k.expose_secret().trim().is_empty());
        let file = file.filter(|f| !f.as_os_str().is_empty());
        match (key, file) {
            (Some(_), Some(_)) => Err(KekError(format!(
                "{KEK_ENV} and {KEK_FILE_ENV} are both set; set one"
            ))),
            (Some(key), None) => Keks::parse(key, KEK_ENV),
            (None, Some(file)) => {
                use std::io::Read as _;
                let read = |file: &Path| -> std::io::Result<String> {
                    let mut text = String::new();
                    std::fs::File::open(file)?
                        .take(MAX_KEK_FILE_BYTES + 1)
                        .read_to_string(&mut text)?;
                    Ok(text)
                };
                let text = SecretString::from(read(file).map_err(|e| {
                    KekError(format!(
                        "{KEK_FILE_ENV}: cannot read {}: {e} ({KEK_ENV} is unset)",
                        file.display()
                    ))
                })?);
                if text.expose_secret().len() as u64 > MAX_KEK_FILE_BYTES {
                    return Err(KekError(format!(
                        "{KEK_FILE_ENV}: {} is longer than {MAX_KEK_FILE_BYTES} bytes",
                        file.display()
                    )));
                }
                Keks::parse(&text, &format!("{KEK_FILE_ENV} ({})", file.display()))
            }
            (None, None) => Err(KekError(format!(
                "{KEK_ENV} is unset (nor {KEK_FILE_ENV}): signing keys are stored encrypted \
                 under it; generate one with `openssl rand -base64 32` and keep it outside \
                 the database and its backups"
            ))),
        }
    }

    /// A new random KEK as base64 (32 bytes from the operating system's generator).
    pub fn generate() -> SecretString {
        use aes_gcm::aead::rand_core::RngCore as _;
        let mut key = secrecy::zeroize::Zeroizing::new([0u8; KEK_BYTES]);
        OsRng.fill_bytes(key.as_mut_slice());
        SecretString::from(STANDARD.encode(key.as_slice()))
    }

    /// Ids of the configured KEKs, the encrypting one first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// Id of the KEK that encrypts.
    pub fn primary_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `private_key_pem` of the key `kid` under the first KEK.
    ///
    /// # Errors
    /// [`KekError`] only if the cipher fails (not expected).
    pub fn seal(&self, kid: &str, private_key_pem: &SecretString) -> Result<String, KekError> {
        let kek = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = kek
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: private_key_pem.expose_secret().as_bytes(),
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KekError(format!("{KEK_ENV}: encrypting signing key {kid} failed")))?;
        Ok(format!(
            "{ENVELOPE}:{}:{}:{}",
            kek.id,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    /// Opens the sealed private key of the row `kid`.
    ///
    /// # Errors
    /// [`KekError`] naming [`KEK_ENV`] when `stored` is not an envelope (a plaintext key is
    /// refused here), was sealed under a KEK not configured, or does not decrypt (wrong KEK, or
    /// a ciphertext moved from another row).
    pub fn open(&self, kid: &str, stored: &str) -> Result<SecretString, KekError> {
        let mut parts = stored.splitn(4, ':');
        let (Some(ENVELOPE), Some(id), Some(nonce), Some(sealed)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(KekError(format!(
                "signing key {kid} is stored unencrypted or in an unknown format; it is sealed \
                 under {KEK_ENV} at start"
            )));
        };
        let nonce = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .filter(|n| n.len() == NONCE_BYTES);
        let (Some(nonce), Ok(sealed)) = (nonce, URL_SAFE_NO_PAD.decode(sealed)) else {
            return Err(KekError(format!(
                "signing key {kid}: malformed envelope (KEK {id}); {KEK_ENV} cannot open it"
            )));
        };
        let candidates: Vec<&Kek> = self.keys.iter().filter(|k| k.id == id).collect();
        if candidates.is_empty() {
            return Err(KekError(format!(
                "{KEK_ENV}: signing key {kid} is encrypted under KEK {id}, which is not \
                 configured (configured: {})",
                self.ids().join(", ")
            )));
        }
        for kek in candidates {
            if let Ok(plain) = kek.cipher.decrypt(
                aes_gcm::aead::Nonce::<Aes256Gcm>::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: kid.as_bytes(),
                },
            ) {
                let plain = secrecy::zeroize::Zeroizing::new(plain);
                return String::from_utf8(plain.to_vec())
                    .map(SecretString::from)
                    .map_err(|_| {
                        KekError(format!("signing key {kid}: decrypted key is not text"))
                    });
            }
        }
        Err(KekError(format!(
            "{KEK_ENV}: signing key {kid} does not decrypt under KEK {id} (wrong key, or the \
             ciphertext belongs to another row)"
        )))
    }

    /// Whether `stored` is sealed under the encrypting KEK (by its envelope; not decrypted).
    pub fn is_sealed_under_primary(&self, stored: &str) -> bool {
        stored
            .strip_prefix(ENVELOPE)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|rest| rest.split(':').next() == Some(self.primary_id()))
    }
}

/// Whether `stored` is a plaintext private key (PEM, as stored before envelope encryption).
pub fn is_plaintext(stored: &str) -> bool {
    stored.trim_start().starts_with("-----BEGIN")
}

#[cfg(test)]
mod tests;
