//! Opaque page tokens (AIP-158).
//!
//! A token carries the position after the last item of a page and a fingerprint of the query it
//! belongs to, and is signed with HMAC-SHA256 (truncated to 128 bits) under the server's key.
//! A token from another query or another session, or any altered byte, is refused with
//! `INVALID_ARGUMENT` on field `page_token`. Layout before base64url (no padding):
//! `version (1) | kind (1) | fingerprint (8) | position (16) | mac (16)`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const BODY_LEN: usize = 1 + 1 + 8 + 16;

/// Which list a token pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// ListSessions.
    Sessions = 1,
    /// ListMessages.
    Messages = 2,
    /// ListAgentSwitches.
    AgentSwitches = 3,
    /// ListPendingApprovals.
    Approvals = 4,
}

/// Why a page token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64url, wrong length or version.
    #[error("page_token is malformed")]
    Malformed,
    /// Signature mismatch: altered, or issued by a server with another key.
    #[error("page_token was not issued by this service or has been altered")]
    BadSignature,
    /// Issued for another list or other filters.
    #[error("page_token belongs to a different query")]
    ForeignQuery,
}

/// Signs and checks page tokens. Cheap to clone.
#[derive(Clone)]
pub struct PageTokens {
    key: [u8; 32],
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

impl PageTokens {
    /// Tokens signed with a key derived from `secret` (any length; SHA-256 of it is the key).
    /// Replicas behind one load balancer must share the secret.
    pub fn new(secret: &[u8]) -> PageTokens {
        PageTokens {
            key: Sha256::digest(secret).into(),
        }
    }

    /// Tokens signed with a random key: valid only within this process.
    pub fn random() -> PageTokens {
        PageTokens {
            key: rand::random(),
        }
    }

    /// Encodes `position` (two signed 64-bit values; meaning is the list's own) for the query
    /// identified by `kind` and the `query` parts (session id, filters).
    pub fn encode(&self, kind: Kind, query: &[&str], position: (i64, i64)) -> String {
        let mut body = Vec::with_capacity(BODY_LEN + MAC_LEN);
        body.push(VERSION);
        body.push(kind as u8);
        body.extend_from_slice(&fingerprint(kind, query));
        body.extend_from_slice(&position.0.to_be_bytes());
        body.extend_from_slice(&position.1.to_be_bytes());
        let mac = self.mac(&body);
        body.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(body)
    }

    /// Decodes a token issued by [`PageTokens::encode`] for the same `kind` and `query`.
    ///
    /// # Errors
    /// [`TokenError`]: malformed, bad signature, or issued for another query.
    pub fn decode(
        &self,
        token: &str,
        kind: Kind,
        query: &[&str],
    ) -> Result<(i64, i64), TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() != BODY_LEN + MAC_LEN || bytes[0] != VERSION {
            return Err(TokenError::Malformed);
        }
        let (body, mac) = bytes.split_at(BODY_LEN);
        let mut check =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        check.update(body);
        check
            .verify_truncated_left(mac)
            .map_err(|_| TokenError::BadSignature)?;
        if body[1] != kind as u8 || body[2..10] != fingerprint(kind, query) {
            return Err(TokenError::ForeignQuery);
        }
        let a = i64::from_be_bytes(body[10..18].try_into().map_err(|_| TokenError::Malformed)?);
        let b = i64::from_be_bytes(body[18..26].try_into().map_err(|_| TokenError::Malformed)?);
        Ok((a, b))
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }
}

fn fingerprint(kind: Kind, query: &[&str]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update([kind as u8]);
    for part in query {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let t = PageTokens::new(b"secret");
        let tok = t.encode(Kind::Messages, &["s1", "fwd"], (42, 0));
        assert_eq!(t.decode(&tok, Kind::Messages, &["s1", "fwd"]), Ok((42, 0)));
    }

    #[test]
    fn foreign_query_is_refused() {
        let t = PageTokens::new(b"secret");
        let tok = t.encode(Kind::Messages, &["s1", "fwd"], (42, 0));
        assert_eq!(
            t.decode(&tok, Kind::Messages, &["s2", "fwd"]),
            Err(TokenError::ForeignQuery)
        );
        assert_eq!(
            t.decode(&tok, Kind::Messages, &["s1", "rev"]),
            Err(TokenError::ForeignQuery)
        );
        assert_eq!(
            t.decode(&tok, Kind::Sessions, &["s1", "fwd"]),
            Err(TokenError::ForeignQuery)
        );
    }

    #[test]
    fn other_key_is_refused() {
        let tok = PageTokens::new(b"a").encode(Kind::Sessions, &[], (1, 2));
        assert_eq!(
            PageTokens::new(b"b").decode(&tok, Kind::Sessions, &[]),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let t = PageTokens::random();
        assert_eq!(
            t.decode("", Kind::Sessions, &[]),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            t.decode("!!!", Kind::Sessions, &[]),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            t.decode("AAAA", Kind::Sessions, &[]),
            Err(TokenError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_refused(pos in any::<i64>(), idx in 0usize..42, bit in 0u8..8) {
            let t = PageTokens::new(b"k");
            let tok = t.encode(Kind::Messages, &["s"], (pos, 7));
            let mut raw = URL_SAFE_NO_PAD.decode(&tok).unwrap();
            raw[idx] ^= 1 << bit;
            let tampered = URL_SAFE_NO_PAD.encode(raw);
            prop_assert!(t.decode(&tampered, Kind::Messages, &["s"]).is_err());
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(s in ".{0,80}") {
            let _ = PageTokens::random().decode(&s, Kind::Messages, &["s"]);
        }
    }
}
