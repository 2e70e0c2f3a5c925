//! Confidential-client secrets: stored as SHA-256, checked in constant time.
//!
//! A client secret this service generates is 32 random bytes, so unlike a password it needs no
//! slow hash to resist an offline search: its SHA-256 is as strong as the secret (the OAuth 2.0
//! Security BCP, RFC 9700 §2.5, asks for high-entropy client credentials; RFC 6819 §5.1.4.1.3
//! for secrets stored as hashes). Checking one then costs microseconds instead of an argon2
//! run, so unauthenticated callers cannot saturate the hashing pool with wrong secrets.
//!
//! Secrets shorter than [`MIN_FAST_SECRET_BYTES`] (an operator's chosen
//! `AUTH_SERVICE__INTERNAL_CLIENT_SECRET`, say) may be guessable and keep the argon2 password
//! hash. A stored argon2 hash of a long secret (written before this form existed) keeps
//! verifying and is replaced by the SHA-256 form on its next successful use.

use crate::oauth::sha256_hex;
use secrecy::{ExposeSecret as _, SecretString};
use subtle::ConstantTimeEq as _;

/// Prefix of the stored SHA-256 form: `$sha256$` then 64 lower-case hex digits.
pub const SHA256_PREFIX: &str = "$sha256$";

/// Shortest secret stored in the SHA-256 form, bytes (256 bits of a random base64 secret's
/// 43 characters, or 240 of the 40-character seeded one are well above any online or
/// offline search).
pub const MIN_FAST_SECRET_BYTES: usize = 32;

/// Whether `secret` is long enough for the SHA-256 form.
pub fn fast_form_fits(secret: &SecretString) -> bool {
    secret.expose_secret().len() >= MIN_FAST_SECRET_BYTES
}

/// The SHA-256 form of `secret` (`$sha256$<hex>`).
pub fn sha256_form(secret: &SecretString) -> String {
    format!("{SHA256_PREFIX}{}", sha256_hex(secret.expose_secret()))
}

/// Whether `stored` is in the SHA-256 form (else it is a password hash).
pub fn is_sha256_form(stored: &str) -> bool {
    stored.starts_with(SHA256_PREFIX)
}

/// Checks `secret` against a stored SHA-256 form, comparing the digests in constant time.
pub fn verify_sha256_form(secret: &SecretString, stored: &str) -> bool {
    let expected = sha256_form(secret);
    expected.len() == stored.len() && bool::from(expected.as_bytes().ct_eq(stored.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_form_verifies_only_its_secret() {
        let s = SecretString::from("a".repeat(43));
        let stored = sha256_form(&s);
        assert!(is_sha256_form(&stored));
        assert_eq!(stored.len(), SHA256_PREFIX.len() + 64);
        assert!(verify_sha256_form(&s, &stored));
        assert!(!verify_sha256_form(
            &SecretString::from("b".repeat(43)),
            &stored
        ));
        assert!(!verify_sha256_form(&s, "$sha256$00"));
        assert!(fast_form_fits(&s));
        assert!(!fast_form_fits(&SecretString::from("internal-secret-123")));
    }
}
