//! The body of a POST to an OAuth endpoint: `application/x-www-form-urlencoded` (RFC 6749
//! §3.2, RFC 7009 §2.1, RFC 7662 §2.1; the format of the WHATWG URL Standard), read within a
//! size bound and parsed strictly.

use crate::error::{Error, OAuthCode};
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use percent_encoding::percent_decode;
use std::collections::BTreeMap;

/// Most parameters one form may carry (ours take at most eight).
pub const MAX_PARAMS: usize = 32;

/// The media type every OAuth endpoint takes.
pub const FORM_MEDIA_TYPE: &str = "application/x-www-form-urlencoded";

/// A parsed form: each parameter once, values percent-decoded. Parameters with an empty
/// value count as omitted (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub struct Form {
    params: BTreeMap<String, String>,
}

impl Form {
    /// Parses `body`.
    ///
    /// # Errors
    /// `invalid_request` naming the problem: a byte outside ASCII (a form percent-encodes
    /// everything else), a parameter without a name, a name or value that does not decode to
    /// UTF-8, more than [`MAX_PARAMS`] parameters, or a parameter given twice (RFC 6749 §3.2:
    /// "Request and response parameters MUST NOT be included more than once").
    pub fn parse(body: &[u8]) -> Result<Form, Error> {
        if !body.is_ascii() {
            return Err(malformed("the body has bytes outside ASCII"));
        }
        let mut params = BTreeMap::new();
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            let name = decode(name).ok_or_else(|| malformed("a parameter name is not UTF-8"))?;
            if name.is_empty() {
                return Err(malformed("a parameter has no name"));
            }
            let value = decode(value).ok_or_else(|| {
                malformed(&format!("the value of `{}` is not UTF-8", shown(&name)))
            })?;
            if params.len() == MAX_PARAMS {
                return Err(malformed(&format!("more than {MAX_PARAMS} parameters")));
            }
            if params.contains_key(&name) {
                return Err(Error::oauth(
                    OAuthCode::InvalidRequest,
                    format!("parameter `{}` is given more than once", shown(&name)),
                ));
            }
            // An empty value is kept, so `a=&a=x` is refused as a duplicate too.
            params.insert(name, value);
        }
        Ok(Form { params })
    }

    /// The value of `name`, or an empty string when it was omitted; removes it.
    pub fn take(&mut self, name: &str) -> String {
        self.params.remove(name).unwrap_or_default()
    }
}

/// Checks that `headers` declare a form body: `Content-Type: application/x-www-form-urlencoded`,
/// with parameters such as `charset=UTF-8` allowed.
///
/// # Errors
/// A description of the problem (answered with 415 Unsupported Media Type, RFC 9110 §15.5.16).
pub fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(format!("Content-Type must be {FORM_MEDIA_TYPE}"));
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if essence.eq_ignore_ascii_case(FORM_MEDIA_TYPE) {
        Ok(())
    } else {
        Err(format!(
            "Content-Type `{}` is not supported; use {FORM_MEDIA_TYPE}",
            shown(essence)
        ))
    }
}

/// `+` as a space, then percent-decoding; `None` when the bytes are not UTF-8.
pub fn decode(raw: &[u8]) -> Option<String> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// At most 40 characters of client-written text, for an error description.
fn shown(text: &str) -> String {
    text.chars().take(40).collect()
}

fn malformed(why: &str) -> Error {
    Error::oauth(
        OAuthCode::InvalidRequest,
        format!("malformed form body: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> String {
        match Form::parse(body.as_bytes()) {
            Err(Error::OAuth { code, description }) => format!("{code}: {description}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn decodes_plus_and_percent_and_treats_empty_as_omitted() {
        let mut f = Form::parse(b"grant_type=password&username=a+b%40c&scope=&x").unwrap();
        assert_eq!(f.take("grant_type"), "password");
        assert_eq!(f.take("username"), "a b@c");
        assert_eq!(f.take("scope"), "");
        assert_eq!(f.take("x"), "");
        assert_eq!(f.take("absent"), "");
    }

    #[test]
    fn refuses_duplicates_even_empty_ones() {
        assert!(code("scope=a&scope=b").contains("`scope` is given more than once"));
        assert!(code("scope=&scope=b").contains("more than once"));
    }

    #[test]
    fn refuses_malformed_bodies() {
        assert!(code("=x").contains("no name"));
        assert!(code("a=%FF").contains("`a` is not UTF-8"));
        assert!(code("a=\u{e9}").contains("outside ASCII"));
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert!(code(&many.join("&")).contains("more than 32 parameters"));
    }

    #[test]
    fn content_type_must_be_a_form() {
        let mut h = HeaderMap::new();
        assert!(check_content_type(&h).is_err());
        h.insert(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=UTF-8"
                .parse()
                .unwrap(),
        );
        assert!(check_content_type(&h).is_ok());
        h.insert(
            CONTENT_TYPE,
            "Application/X-WWW-Form-Urlencoded".parse().unwrap(),
        );
        assert!(check_content_type(&h).is_ok());
        h.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(
            check_content_type(&h)
                .unwrap_err()
                .contains("application/json")
        );
        h.append(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert!(check_content_type(&h).is_err(), "two content types");
    }
}
