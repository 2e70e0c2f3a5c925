//! Bearer-token parsing: `authorization: Bearer <token>` (RFC 6750 §2.1).

use crate::error::AuthError;

/// The token of a request's `authorization` values (the raw bytes of each, in order):
/// exactly one value, of visible ASCII (as `http::HeaderValue::to_str` requires), of the form
/// [`bearer_token`] accepts.
///
/// # Errors
/// No value → [`AuthError::MissingToken`]; several values, non-ASCII, another scheme (e.g.
/// `Basic`) or an empty token → [`AuthError::MalformedHeader`].
pub fn from_authorization<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<&'a str, AuthError> {
    let mut values = values.into_iter();
    let value = values.next().ok_or(AuthError::MissingToken)?;
    if values.next().is_some() {
        return Err(AuthError::MalformedHeader);
    }
    if !value.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) {
        return Err(AuthError::MalformedHeader);
    }
    let value = std::str::from_utf8(value).map_err(|_| AuthError::MalformedHeader)?;
    bearer_token(value).ok_or(AuthError::MalformedHeader)
}

/// The token of one `Bearer <token>` value, or `None`. The scheme is matched
/// case-insensitively; whitespace around the value and between scheme and token is allowed,
/// whitespace inside the token is not (RFC 6750 §2.1: `b64token`).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return None;
    }
    Some(token)
}
