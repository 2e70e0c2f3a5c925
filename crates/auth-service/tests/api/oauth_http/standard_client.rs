//! A client nobody here wrote, the `oauth2` crate, through every flow: password, refresh with
//! rotation, client_credentials, revocation (RFC 7009) and introspection (RFC 7662). The
//! crate insists on https for revocation, so the server runs with TLS.

use crate::backend_tests;
use crate::helpers::*;
use db_core::Backend;
use db_core::testing::TestDb;
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AccessToken, ClientId, ClientSecret, EndpointNotSet, EndpointSet, IntrospectionUrl,
    RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername, RevocationUrl, Scope,
    StandardRevocableToken, TokenIntrospectionResponse as _, TokenResponse as _, TokenUrl,
};
use service_kit::testing::TestPki;
use std::net::SocketAddr;
use std::time::Duration;

backend_tests!(
    a_standard_client_logs_in_refreshes_introspects_and_logs_out,
    the_metadata_names_every_endpoint,
);

type Client = BasicClient<EndpointNotSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointSet>;

/// auth-service over TLS (a throwaway CA) on a fresh database of `backend`.
struct TlsApp {
    addr: SocketAddr,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl TlsApp {
    async fn spawn(backend: Backend) -> TlsApp {
        let dir = tempfile::tempdir().unwrap();
        let mut pki = TestPki::new(dir.path(), "test CA");
        let issued = pki.server("server", "localhost");
        let db = TestDb::new(backend).await;
        let mut config = test_config(&db);
        config.tls = pki.settings(&issued, false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(auth_service::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&pki.ca_file).unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let app = TlsApp {
            addr,
            http,
            _stop: stop,
            _db: db,
            _dir: dir,
        };
        app.wait_until_serving().await;
        app
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    async fn wait_until_serving(&self) {
        for _ in 0..200 {
            if let Ok(r) = self
                .http
                .get(self.url("/.well-known/jwks.json"))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("auth-service never answered over https");
    }

    /// Client `id` (with `secret` when confidential) knowing every endpoint.
    fn client(&self, id: &str, secret: Option<&str>) -> Client {
        let client = BasicClient::new(ClientId::new(id.to_owned()))
            .set_token_uri(TokenUrl::new(self.url("/oauth/token")).unwrap())
            .set_revocation_url(RevocationUrl::new(self.url("/oauth/revoke")).unwrap())
            .set_introspection_url(IntrospectionUrl::new(self.url("/oauth/introspect")).unwrap());
        match secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.to_owned())),
            None => client,
        }
    }
}

async fn a_standard_client_logs_in_refreshes_introspects_and_logs_out(backend: Backend) {
    let app = TlsApp::spawn(backend).await;
    let http = &app.http;
    // A public client (no secret: the crate sends client_id in the form).
    let cli = app.client("codelab-cli", None);
    let login = cli
        .exchange_password(
            &ResourceOwnerUsername::new("admin".into()),
            &ResourceOwnerPassword::new(ADMIN_PASSWORD.into()),
        )
        .add_scope(Scope::new("api:read".into()))
        .request_async(http)
        .await
        .expect("password grant");
    assert_eq!(*login.token_type(), BasicTokenType::Bearer);
    assert!(login.expires_in().unwrap() > Duration::from_secs(60));
    assert_eq!(
        login.scopes().unwrap(),
        &vec![Scope::new("api:read".into())]
    );
    let first = login.refresh_token().expect("a refresh token").clone();

    // Refresh rotates the refresh token.
    let refreshed = cli
        .exchange_refresh_token(&first)
        .request_async(http)
        .await
        .expect("refresh grant");
    let second = refreshed
        .refresh_token()
        .expect("a new refresh token")
        .clone();
    assert_ne!(second.secret(), first.secret());

    // A confidential client (Basic authentication) gets its own token, without refresh token.
    let internal = app.client("codelab-internal", Some(INTERNAL_SECRET));
    let service = internal
        .exchange_client_credentials()
        .request_async(http)
        .await
        .expect("client_credentials grant");
    assert!(service.refresh_token().is_none());

    // and, as a resource server would, introspects the user's tokens.
    let about = internal
        .introspect(refreshed.access_token())
        .request_async(http)
        .await
        .expect("introspection");
    assert!(about.active());
    assert_eq!(about.username(), Some("admin"));
    assert_eq!(
        about.client_id(),
        Some(&ClientId::new("codelab-cli".into()))
    );
    assert_eq!(about.token_type(), Some(&BasicTokenType::Bearer));
    let refresh_as_token = AccessToken::new(second.secret().clone());
    let about = internal
        .introspect(&refresh_as_token)
        .set_token_type_hint("refresh_token")
        .request_async(http)
        .await
        .unwrap();
    assert!(about.active());
    assert_eq!(
        about.token_type(),
        None,
        "a refresh token has no RFC 6749 §5.1 type"
    );

    // Another client's revocation of the user's refresh token changes nothing (RFC 7009 §2.1).
    internal
        .revoke_token(StandardRevocableToken::RefreshToken(second.clone()))
        .unwrap()
        .request_async(http)
        .await
        .expect("200 for a token of another client");
    let about = internal
        .introspect(&refresh_as_token)
        .request_async(http)
        .await
        .unwrap();
    assert!(about.active(), "a client revokes only its own tokens");

    // Logging out: the public client revokes its refresh token, with no access token at all.
    cli.revoke_token(StandardRevocableToken::RefreshToken(second.clone()))
        .unwrap()
        .request_async(http)
        .await
        .expect("revocation");
    let refused = cli
        .exchange_refresh_token(&second)
        .request_async(http)
        .await
        .expect_err("a revoked refresh token");
    assert_server_error(refused, BasicErrorResponseType::InvalidGrant);
    let about = internal
        .introspect(&refresh_as_token)
        .request_async(http)
        .await
        .unwrap();
    assert!(!about.active());
    // Unknown tokens are revoked without complaint.
    cli.revoke_token(StandardRevocableToken::RefreshToken(
        oauth2::RefreshToken::new("no-such-token".into()),
    ))
    .unwrap()
    .request_async(http)
    .await
    .expect("200 for an unknown token");

    // A wrong secret is refused as invalid_client.
    let refused = app
        .client("codelab-internal", Some("wrong-secret"))
        .exchange_client_credentials()
        .request_async(http)
        .await
        .expect_err("a wrong secret");
    assert_server_error(refused, BasicErrorResponseType::InvalidClient);
}

/// Asserts that `err` is the server's RFC 6749 §5.2 answer `expected`.
#[track_caller]
fn assert_server_error<RE: std::error::Error + 'static>(
    err: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
    expected: BasicErrorResponseType,
) {
    match err {
        RequestTokenError::ServerResponse(r) => assert_eq!(*r.error(), expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

async fn the_metadata_names_every_endpoint(backend: Backend) {
    let app = TlsApp::spawn(backend).await;
    let metadata: serde_json::Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The test configuration's issuer is the public base URL the endpoints live under.
    let issuer = metadata["issuer"].as_str().unwrap();
    for (key, path) in [
        ("token_endpoint", "/oauth/token"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(
            metadata[key].as_str().unwrap(),
            format!("{}{path}", issuer.trim_end_matches('/')),
            "{key}"
        );
        // Each endpoint is served here.
        let response = app.http.post(app.url(path)).send().await.unwrap();
        assert_ne!(response.status(), reqwest::StatusCode::NOT_FOUND, "{path}");
    }
    let strings = |key: &str| -> Vec<String> {
        metadata[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        strings("grant_types_supported"),
        ["password", "refresh_token", "client_credentials"]
    );
    assert_eq!(
        strings("token_endpoint_auth_methods_supported"),
        ["client_secret_basic", "client_secret_post", "none"]
    );
    assert_eq!(
        strings("scopes_supported"),
        ["api:read", "api:write", "api:admin", "api:approve"]
    );
}
