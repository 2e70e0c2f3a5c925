//! Validation of request fields and conversion between prost and [`crate::model`] types.
//!
//! Rules (API.md): usernames 3–64 characters of `[a-z0-9._-]` (compared case-insensitively,
//! stored lower-case); passwords 8–1024 bytes (OWASP ASVS 2.1.1 minimum; the maximum bounds the
//! hashing work one request can cause); emails per RFC 5321/5322 (checked by `email_address`),
//! at most 254 characters; client ids like usernames.

use crate::error::{Error, Result};
use crate::model::{Client, GrantType, Scopes, User};
use crate::oauth::MAX_SECRET_BYTES;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use codelab_proto::auth::v1 as pb;
use prost_types::Timestamp;
use secrecy::{ExposeSecret, SecretString};

/// Shortest password, characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Default and largest page sizes (AIP-158).
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// Largest page size.
pub const MAX_PAGE_SIZE: i32 = 1000;

fn identifier(field: &str, value: &str) -> Result<String> {
    let v = value.trim().to_lowercase();
    let n = v.chars().count();
    if !(3..=64).contains(&n) {
        return Err(Error::invalid(
            field,
            format!("must be 3–64 characters, got {n}"),
        ));
    }
    if let Some(bad) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Error::invalid(
            field,
            format!("may contain only letters, digits, `.`, `_` and `-`; found {bad:?}"),
        ));
    }
    Ok(v)
}

/// A valid username, lower-cased.
///
/// # Errors
/// `InvalidArgument` on `username`.
pub fn username(value: &str) -> Result<String> {
    identifier("username", value)
}

/// A valid client id, lower-cased.
///
/// # Errors
/// `InvalidArgument` on `client_id`.
pub fn client_id(value: &str) -> Result<String> {
    identifier("client_id", value)
}

/// A valid email, lower-cased; empty means none.
///
/// # Errors
/// `InvalidArgument` on `email`.
pub fn email(value: &str) -> Result<Option<String>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > 254 {
        return Err(Error::invalid("email", "must be at most 254 characters"));
    }
    if !email_address::EmailAddress::is_valid(v) || v.contains(char::is_whitespace) {
        return Err(Error::invalid("email", "is not a valid email address"));
    }
    Ok(Some(v.to_lowercase()))
}

/// A password acceptable as a new password.
///
/// # Errors
/// `InvalidArgument` on `field`.
pub fn new_password(field: &str, value: &str) -> Result<SecretString> {
    let n = value.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if value.len() > MAX_SECRET_BYTES {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_SECRET_BYTES} bytes"),
        ));
    }
    Ok(SecretString::from(value.to_owned()))
}

/// Scopes from a request field.
///
/// # Errors
/// `InvalidArgument` on `field` naming the unknown scope.
pub fn scopes(field: &str, value: &str) -> Result<Scopes> {
    Scopes::parse(value).map_err(|bad| {
        Error::invalid(
            field,
            format!(
                "unknown scope `{bad}`; known: {}",
                access_token::Scope::NAMES.join(" ")
            ),
        )
    })
}

/// Grant types from a request field.
///
/// # Errors
/// `InvalidArgument` on `allowed_grant_types`.
pub fn grant_types(values: &[String]) -> Result<Vec<GrantType>> {
    let mut out = Vec::new();
    for v in values {
        let g = GrantType::parse(v.trim()).ok_or_else(|| {
            Error::invalid(
                "allowed_grant_types",
                format!(
                    "unknown grant type `{}`; known: password refresh_token client_credentials",
                    v.chars().take(40).collect::<String>()
                ),
            )
        })?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out.sort();
    Ok(out)
}

/// A lifetime in seconds: 0 → `default`, else 60 s to `max`.
///
/// # Errors
/// `InvalidArgument` on `field`.
pub fn lifetime(field: &str, value: i64, default: i64, max: i64) -> Result<i64> {
    match value {
        0 => Ok(default),
        v if (60..=max).contains(&v) => Ok(v),
        v => Err(Error::invalid(
            field,
            format!("must be 60–{max} seconds (0 = default), got {v}"),
        )),
    }
}

/// A string field of at most `max` characters.
///
/// # Errors
/// `InvalidArgument` on `field`.
pub fn text(field: &str, value: &str, max: usize) -> Result<String> {
    if value.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A secret from a request field (empty stays empty).
pub fn secret(value: String) -> SecretString {
    SecretString::from(value)
}

/// True when the secret is empty.
pub fn is_empty(secret: &SecretString) -> bool {
    secret.expose_secret().is_empty()
}

/// AIP-158 page size: 0 → 50, 1–1000 as is.
///
/// # Errors
/// `InvalidArgument` on `page_size`.
pub fn page_size(value: i32) -> Result<i64> {
    match value {
        0 => Ok(i64::from(DEFAULT_PAGE_SIZE)),
        v if (1..=MAX_PAGE_SIZE).contains(&v) => Ok(i64::from(v)),
        v => Err(Error::invalid(
            "page_size",
            format!("must be 0–{MAX_PAGE_SIZE}, got {v}"),
        )),
    }
}

/// An opaque page token for list `kind` continuing after row `id`.
pub fn encode_page_token(kind: &str, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

/// The row id a page token of list `kind` continues after; empty → none.
///
/// # Errors
/// `InvalidArgument` on `page_token` when it is not one of this list's tokens.
pub fn decode_page_token(kind: &str, token: &str) -> Result<Option<i64>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid("page_token", "not a page token of this list");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (k, id) = raw.split_once(':').ok_or_else(bad)?;
    if k != kind {
        return Err(bad());
    }
    id.parse::<i64>().map(Some).map_err(|_| bad())
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A user as sent to clients.
pub fn user(u: User) -> pb::User {
    pb::User {
        user_id: u.user_id,
        username: u.username,
        email: u.email.unwrap_or_default(),
        is_active: u.is_active,
        is_verified: u.is_verified,
        scopes: u.scopes.to_string(),
        created_at: Some(timestamp(u.created_at)),
        updated_at: Some(timestamp(u.updated_at)),
        last_login_at: u.last_login_at.map(timestamp),
    }
}

/// A client as sent to administrators.
pub fn client(c: Client) -> pb::Client {
    pb::Client {
        client_id: c.client_id,
        name: c.name,
        description: c.description,
        is_confidential: c.is_confidential,
        allowed_scopes: c.allowed_scopes.to_string(),
        allowed_grant_types: c
            .allowed_grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        access_token_lifetime_secs: c.access_token_lifetime_secs,
        refresh_token_lifetime_secs: c.refresh_token_lifetime_secs,
        is_active: c.is_active,
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username("  Alice.B ").unwrap(), "alice.b");
        assert!(username("ab").is_err());
        assert!(username(&"a".repeat(65)).is_err());
        let e = username("al ice").unwrap_err().to_string();
        assert!(e.contains("username"), "{e}");
        assert!(username("al'ice").is_err());
    }

    #[test]
    fn emails_and_passwords() {
        assert_eq!(email("").unwrap(), None);
        assert_eq!(
            email("A@Example.org").unwrap().as_deref(),
            Some("a@example.org")
        );
        assert!(email("not-an-email").is_err());
        assert!(email(&format!("{}@x.org", "a".repeat(260))).is_err());
        assert!(new_password("password", "short").is_err());
        assert!(new_password("password", &"x".repeat(2000)).is_err());
        assert!(new_password("password", "long enough").is_ok());
    }

    #[test]
    fn page_tokens_are_bound_to_their_list() {
        let t = encode_page_token("users", 42);
        assert_eq!(decode_page_token("users", &t).unwrap(), Some(42));
        assert!(decode_page_token("clients", &t).is_err());
        assert!(decode_page_token("users", "!!").is_err());
        assert_eq!(decode_page_token("users", "").unwrap(), None);
        assert_eq!(page_size(0).unwrap(), 50);
        assert!(page_size(1001).is_err());
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn lifetimes_and_grants() {
        assert_eq!(lifetime("x", 0, 900, 86_400).unwrap(), 900);
        assert!(lifetime("x", 5, 900, 86_400).is_err());
        assert!(lifetime("x", 100_000, 900, 86_400).is_err());
        assert_eq!(
            grant_types(&["refresh_token".into(), "password".into(), "password".into()]).unwrap(),
            vec![GrantType::Password, GrantType::RefreshToken]
        );
        assert!(grant_types(&["implicit".into()]).is_err());
    }
}
