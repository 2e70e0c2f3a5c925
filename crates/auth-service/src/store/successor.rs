//! Sealing a refresh token's successor under the token itself.
//!
//! Only hashes of refresh tokens are stored, yet a retry inside the grace window must get the
//! very successor the first request got (RFC 9700 §4.14.2: rotation must not fork a family).
//! The rotated row keeps the successor AES-256-GCM encrypted under a key derived from the
//! rotated token's value (HMAC-SHA-256 keyed by the value, over a fixed label): whoever
//! presents that value again can open it, a reader of the database cannot (the value is
//! stored only as its SHA-256, a different function). A wrong value fails the GCM tag check
//! instead of yielding another token.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const LABEL: &[u8] = b"codelab refresh-token successor v1";
const NONCE_BYTES: usize = 12;

/// The AES-256-GCM cipher whose key only `presented` derives.
fn cipher(presented: &str) -> Aes256Gcm {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(presented.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(LABEL);
    Aes256Gcm::new(&mac.finalize().into_bytes())
}

/// `successor` (one of our tokens: 32 bytes, base64url) sealed under `presented`: base64url
/// (no padding) of a random 12-byte nonce, the 32-byte ciphertext and the 16-byte tag, 80
/// characters; `None` when `successor` is not base64url.
pub(crate) fn seal(presented: &str, successor: &str) -> Option<String> {
    let token = URL_SAFE_NO_PAD.decode(successor).ok()?;
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = cipher(presented).encrypt(&nonce, token.as_slice()).ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(URL_SAFE_NO_PAD.encode(out))
}

/// The successor sealed by [`seal`] under `presented`; `None` when `sealed` is malformed or was
/// sealed under another value.
pub(crate) fn unseal(presented: &str, sealed: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() <= NONCE_BYTES {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
    let token = cipher(presented)
        .decrypt(aes_gcm::Nonce::from_slice(nonce), ciphertext)
        .ok()?;
    Some(URL_SAFE_NO_PAD.encode(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::random_token;

    #[test]
    fn only_the_presented_token_opens_its_successor() {
        let (presented, successor) = (random_token(), random_token());
        let sealed = seal(&presented, &successor).unwrap();
        assert_eq!(sealed.len(), 80, "fits the column");
        assert_eq!(unseal(&presented, &sealed).as_deref(), Some(&*successor));
        assert_eq!(unseal(&random_token(), &sealed), None);
        assert_eq!(unseal(&presented, "zz"), None);
        assert_eq!(seal(&presented, "not a token"), None);
        let mut tampered = sealed.into_bytes();
        tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            unseal(&presented, &String::from_utf8(tampered).unwrap()),
            None
        );
    }
}
