//! The handlers of the HTTP edge: each reads its request ([`HttpApi::receive`]), calls
//! [`OAuth`](crate::oauth::OAuth) and answers ([`reply`](super::reply)).

use crate::error::{Error, OAuthCode};
use crate::model::RequestContext;
use crate::oauth::{Requester, TokenRequest};
use access_token::Scope;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use secrecy::SecretString;
use serde::Serialize;
use std::time::Instant;

use super::client_auth::Credentials;
use super::reply::{Refusal, finish, no_store_json, no_store_ok};
use super::{
    HttpApi, INTROSPECT_PATH, JWKS_CACHE_CONTROL, JWKS_PATH, Posted, REVOKE_PATH, TOKEN_PATH,
};

/// The token response (RFC 6749 §5.1), as the original service answered it.
#[derive(Serialize)]
struct TokenBody {
    access_token: String,
    token_type: &'static str,
    /// Seconds.
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
}

/// `POST /oauth/token`: a grant (RFC 6749 §4.3 `password`, §4.4 `client_credentials`, §6
/// `refresh_token`) for a client authenticated by `Basic`, by the form, or (public clients)
/// by `client_id` alone.
pub(super) async fn token(State(api): State<HttpApi>, request: Request) -> Response {
    let started = Instant::now();
    let result = async {
        let Posted {
            context,
            mut form,
            credentials,
        } = api.receive(request).await?;
        let (client_id, client_secret) = match credentials {
            Credentials::Client { id, secret } => (id, secret),
            // The grant names what is missing: `client_id is required`.
            Credentials::None => (String::new(), SecretString::default()),
            Credentials::Bearer(_) => {
                return Err(Error::oauth(
                    OAuthCode::InvalidClient,
                    "the token endpoint takes client credentials, not a bearer token",
                )
                .into());
            }
        };
        let request = TokenRequest {
            grant_type: form.take("grant_type"),
            client_id,
            client_secret,
            username: form.take("username"),
            password: SecretString::from(form.take("password")),
            refresh_token: SecretString::from(form.take("refresh_token")),
            scope: form.take("scope"),
        };
        let issued = api.shared.oauth.token(request, &context).await?;
        Ok(no_store_json(&TokenBody {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token,
            scope: issued.scope.to_string(),
        }))
    }
    .await;
    finish(started, TOKEN_PATH, result)
}

/// `POST /oauth/revoke` (RFC 7009 §2.1): revokes the refresh token `token` and its family,
/// for the client it was issued to (or a bearer holding it). Unknown tokens, and tokens the
/// requester does not hold, answer 200 too (§2.2).
pub(super) async fn revoke(State(api): State<HttpApi>, request: Request) -> Response {
    let started = Instant::now();
    let result = async {
        let (token, requester, context) = token_request(&api, request, false).await?;
        api.shared
            .oauth
            .revoke(&token, &requester, &context)
            .await?;
        Ok(no_store_ok())
    }
    .await;
    finish(started, REVOKE_PATH, result)
}

/// The introspection response (RFC 7662 §2.2): only `active` for an inactive token.
#[derive(Serialize)]
struct IntrospectionBody {
    active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    claims: Option<IntrospectedClaims>,
}

#[derive(Serialize)]
struct IntrospectedClaims {
    sub: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    client_id: String,
    scope: String,
    /// `Bearer` for access tokens (RFC 7662 §2.2: a type of RFC 6749 §5.1); none for refresh
    /// tokens, which have no such type.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    /// Seconds since the epoch.
    exp: i64,
    /// Seconds since the epoch.
    iat: i64,
    iss: String,
}

/// `POST /oauth/introspect` (RFC 7662 §2.1): what `token` is, for a confidential client or an
/// api:admin bearer.
pub(super) async fn introspect(State(api): State<HttpApi>, request: Request) -> Response {
    let started = Instant::now();
    let result = async {
        let (token, requester, _) = token_request(&api, request, true).await?;
        let i = api.shared.oauth.introspect(&token, &requester).await?;
        let claims = i.active.then(|| IntrospectedClaims {
            sub: i.sub,
            username: i.username,
            client_id: i.client_id,
            scope: i.scope,
            token_type: (i.token_type == "access_token").then_some("Bearer"),
            exp: i.exp,
            iat: i.iat,
            iss: api.shared.oauth.keys().issuer().to_owned(),
        });
        Ok(no_store_json(&IntrospectionBody {
            active: i.active,
            claims,
        }))
    }
    .await;
    finish(started, INTROSPECT_PATH, result)
}

/// What a revocation or introspection request (RFC 7009 §2.1, RFC 7662 §2.1) carries after
/// [`HttpApi::receive`]: its required `token`, its requester (an authenticated client, or a
/// bearer who must hold api:admin when `admin_bearer`) and where it came from.
async fn token_request(
    api: &HttpApi,
    request: Request,
    admin_bearer: bool,
) -> Result<(SecretString, Requester, RequestContext), Refusal> {
    let Posted {
        context,
        mut form,
        credentials,
    } = api.receive(request).await?;
    let token = form.take("token");
    if token.is_empty() {
        return Err(Error::oauth(OAuthCode::InvalidRequest, "token is required").into());
    }
    let requester = match credentials {
        Credentials::Client { id, secret } => Requester::Client(
            api.shared
                .oauth
                .authenticate_client(&id, &secret, &context)
                .await?,
        ),
        Credentials::Bearer(bearer) => {
            let caller = api.shared.oauth.caller(&bearer).await?;
            if admin_bearer && !caller.is_admin() {
                return Err(Error::PermissionDenied(Scope::Admin.as_str()).into());
            }
            Requester::Bearer(caller)
        }
        Credentials::None => {
            return Err(Error::oauth(
                OAuthCode::InvalidClient,
                "client authentication is required",
            )
            .into());
        }
    };
    Ok((SecretString::from(token), requester, context))
}

/// The RFC 8414 document of a server whose public base URL is `issuer`.
pub(super) fn metadata(issuer: &str) -> serde_json::Value {
    let base = issuer.trim_end_matches('/');
    let client_methods = ["client_secret_basic", "client_secret_post", "none"];
    serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "revocation_endpoint": format!("{base}{REVOKE_PATH}"),
        "introspection_endpoint": format!("{base}{INTROSPECT_PATH}"),
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "grant_types_supported": crate::model::GrantType::ALL.map(|g| g.as_str()),
        // No authorization endpoint: no response type is supported.
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": client_methods,
        "revocation_endpoint_auth_methods_supported": client_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": Scope::NAMES,
    })
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §3).
pub(super) async fn metadata_document(State(api): State<HttpApi>) -> Response {
    (
        [(CACHE_CONTROL, "public, max-age=3600")],
        axum::Json(api.metadata.as_ref().clone()),
    )
        .into_response()
}

/// `GET /.well-known/jwks.json`: the JWK Set (RFC 7517 §5) of every key whose tokens may
/// still be valid.
pub(super) async fn jwks(State(api): State<HttpApi>) -> Response {
    (
        [
            (CONTENT_TYPE, "application/jwk-set+json"),
            (CACHE_CONTROL, JWKS_CACHE_CONTROL),
        ],
        api.keys.current_jwks_json().await,
    )
        .into_response()
}
