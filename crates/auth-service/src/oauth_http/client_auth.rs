//! Who a POST to an OAuth endpoint comes from: a client by `Authorization: Basic`
//! (`client_secret_basic`, RFC 6749 §2.3.1), by the form's `client_id` and `client_secret`
//! (`client_secret_post`), a public client by its `client_id` alone (`none`), or a bearer
//! token (RFC 6750 §2.1, introspection only).

use crate::error::{Error, OAuthCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use secrecy::SecretString;

use super::form::{Form, decode};

/// The credentials a request presents.
#[derive(Debug)]
pub enum Credentials {
    /// A client's id and secret (empty for a public client).
    Client {
        /// `client_id`.
        id: String,
        /// `client_secret`; empty when none was given.
        secret: SecretString,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// Nothing: no `Authorization` header and no `client_id`.
    None,
}

/// The credentials of a request from its `headers` and `form` (whose `client_id` and
/// `client_secret` are taken out).
///
/// # Errors
/// `invalid_client` for a malformed `Basic` value or another scheme (answered 401 with
/// `WWW-Authenticate: Basic`); `invalid_request` for several `Authorization` headers or more
/// than one method at once (RFC 6749 §2.3: "MUST NOT use more than one authentication
/// method in each request"), or a form `client_id` other than the `Basic` one.
pub fn credentials(headers: &HeaderMap, form: &mut Form) -> Result<Credentials, Error> {
    let form_id = form.take("client_id");
    let form_secret = form.take("client_secret");
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(value), None) => Some(value),
        (Some(_), Some(_)) => return Err(invalid_request("more than one Authorization header")),
    };
    let Some(value) = value else {
        if form_id.is_empty() {
            if !form_secret.is_empty() {
                return Err(invalid_request("client_secret without client_id"));
            }
            return Ok(Credentials::None);
        }
        return Ok(Credentials::Client {
            id: form_id,
            secret: SecretString::from(form_secret),
        });
    };
    let value = value
        .to_str()
        .map_err(|_| bad_client("malformed Authorization header"))?;
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        if !form_id.is_empty() || !form_secret.is_empty() {
            return Err(invalid_request(
                "use one authentication method: a bearer token or client credentials",
            ));
        }
        let token =
            access_token::bearer::bearer_token(value).ok_or_else(|| Error::Unauthenticated {
                reason: "MALFORMED_AUTHORIZATION",
                message: "`Authorization` must be `Bearer <access token>`".to_owned(),
            })?;
        return Ok(Credentials::Bearer(token.to_owned()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad_client(
            "unsupported authentication scheme; use Basic or client_id and client_secret",
        ));
    }
    if !form_secret.is_empty() {
        return Err(invalid_request(
            "use one client authentication method: Basic or client_secret, not both",
        ));
    }
    let (id, secret) = basic(rest.trim())?;
    if !form_id.is_empty() && form_id != id {
        return Err(invalid_request(
            "client_id differs from the client of the Authorization header",
        ));
    }
    Ok(Credentials::Client { id, secret })
}

/// The client id and secret of a `Basic` value: base64 of `id:secret`, each
/// form-urlencoded (RFC 6749 §2.3.1).
fn basic(encoded: &str) -> Result<(String, SecretString), Error> {
    let malformed = || bad_client("malformed Basic credentials");
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = decode(id.as_bytes()).ok_or_else(malformed)?;
    let secret = decode(secret.as_bytes()).ok_or_else(malformed)?;
    if id.is_empty() {
        return Err(malformed());
    }
    Ok((id, SecretString::from(secret)))
}

fn invalid_request(why: &str) -> Error {
    Error::oauth(OAuthCode::InvalidRequest, why)
}

fn bad_client(why: &str) -> Error {
    Error::oauth(OAuthCode::InvalidClient, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    fn with(auth: Option<&str>, body: &str) -> Result<Credentials, Error> {
        let mut headers = HeaderMap::new();
        if let Some(auth) = auth {
            headers.insert(AUTHORIZATION, auth.parse().unwrap());
        }
        credentials(&headers, &mut Form::parse(body.as_bytes()).unwrap())
    }

    fn client(c: Result<Credentials, Error>) -> (String, String) {
        match c.unwrap() {
            Credentials::Client { id, secret } => (id, secret.expose_secret().to_owned()),
            other => panic!("{other:?}"),
        }
    }

    fn code(c: Result<Credentials, Error>) -> OAuthCode {
        match c {
            Err(Error::OAuth { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn basic_is_base64_of_form_encoded_id_and_secret() {
        // "my%20app:s%3Acret+1" → id "my app", secret "s:cret 1".
        let value = format!("Basic {}", STANDARD.encode("my%20app:s%3Acret+1"));
        assert_eq!(
            client(with(Some(&value), "grant_type=x")),
            ("my app".into(), "s:cret 1".into())
        );
        let value = format!("basic {}", STANDARD.encode("app:"));
        assert_eq!(
            client(with(Some(&value), "client_id=app")),
            ("app".into(), "".into())
        );
    }

    #[test]
    fn post_and_public_clients_use_the_form() {
        assert_eq!(
            client(with(None, "client_id=app&client_secret=s")),
            ("app".into(), "s".into())
        );
        assert_eq!(
            client(with(None, "client_id=app")),
            ("app".into(), "".into())
        );
        assert!(matches!(
            with(None, "grant_type=x").unwrap(),
            Credentials::None
        ));
        assert!(matches!(
            with(Some("Bearer abc.def.ghi"), "token=t").unwrap(),
            Credentials::Bearer(t) if t == "abc.def.ghi"
        ));
    }

    #[test]
    fn one_method_at_a_time() {
        let basic = format!("Basic {}", STANDARD.encode("app:s"));
        assert_eq!(
            code(with(Some(&basic), "client_secret=s")),
            OAuthCode::InvalidRequest
        );
        assert_eq!(
            code(with(Some(&basic), "client_id=other")),
            OAuthCode::InvalidRequest
        );
        assert_eq!(
            code(with(Some("Bearer t"), "client_id=app")),
            OAuthCode::InvalidRequest
        );
        assert_eq!(
            code(with(None, "client_secret=s")),
            OAuthCode::InvalidRequest
        );
    }

    #[test]
    fn malformed_or_other_schemes_are_invalid_client() {
        for value in ["Basic !!!", "Basic", "Digest x", "Basic Zm9v"] {
            assert_eq!(
                code(with(Some(value), "")),
                OAuthCode::InvalidClient,
                "{value}"
            );
        }
        let no_id = format!("Basic {}", STANDARD.encode(":s"));
        assert_eq!(code(with(Some(&no_id), "")), OAuthCode::InvalidClient);
    }
}
