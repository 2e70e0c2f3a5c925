//! Sealing a refresh token's successor under the token itself.
//!
//! Only hashes of refresh tokens are stored, yet a retry inside the grace window must get the
//! very successor the first request got (RFC 9700 §4.14.2: rotation must not fork a family).
//! The rotated row keeps the successor's 32 bytes XOR-ed with HMAC-SHA-256 keyed by the rotated
//! token's value: whoever presents that value again can open it, a reader of the database
//! cannot (the value is stored only as its SHA-256, a different function). Each token has one
//! successor, so each key stream is used once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const LABEL: &[u8] = b"codelab refresh-token successor v1";

fn pad(presented: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(presented.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(LABEL);
    mac.finalize().into_bytes().into()
}

/// `successor` (one of our 43-character tokens) sealed under `presented`, as 64 hex digits;
/// `None` when `successor` is not 32 base64url bytes.
pub(crate) fn seal(presented: &str, successor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(successor).ok()?;
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    let pad = pad(presented);
    Some(
        bytes
            .iter()
            .zip(pad)
            .map(|(b, p)| format!("{:02x}", b ^ p))
            .collect(),
    )
}

/// The successor sealed by [`seal`] under `presented`; `None` when `sealed` is malformed.
pub(crate) fn unseal(presented: &str, sealed: &str) -> Option<String> {
    if sealed.len() != 64 || !sealed.is_ascii() {
        return None;
    }
    let pad = pad(presented);
    let mut bytes = [0u8; 32];
    for (i, out) in bytes.iter_mut().enumerate() {
        let b = u8::from_str_radix(&sealed[2 * i..2 * i + 2], 16).ok()?;
        *out = b ^ pad[i];
    }
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::random_token;

    #[test]
    fn only_the_presented_token_opens_its_successor() {
        let (presented, successor) = (random_token(), random_token());
        let sealed = seal(&presented, &successor).unwrap();
        assert_eq!(sealed.len(), 64);
        assert_eq!(unseal(&presented, &sealed).as_deref(), Some(&*successor));
        assert_ne!(
            unseal(&random_token(), &sealed).as_deref(),
            Some(&*successor)
        );
        assert_eq!(unseal(&presented, "zz"), None);
        assert_eq!(seal(&presented, "not a token"), None);
    }
}
