//! agent-runtime trusting a real auth-service: tokens it issues are accepted, keys are fetched
//! with `GetJwks`, start-up waits for auth-service, cached keys outlive it, a rotated key is
//! picked up on its first unknown `kid`, and a revoked login loses access once its last access
//! token expires.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use codelab_proto::auth::v1 as auth_pb;
use db_core::Backend;
use db_core::testing::TestDb;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::Code;
use tonic::transport::Channel;

const ADMIN_PASSWORD: &str = "admin-password-for-tests";

backend_tests!(
    the_whole_flow_through_auth_service,
    start_before_auth_service_outlive_it_and_follow_rotation
);

/// A running auth-service over its own database.
struct AuthServer {
    server: TestServer<auth_service::ServeError>,
    db: TestDb,
}

impl AuthServer {
    /// Starts auth-service on `listener` (fast password hashing, known admin password).
    async fn start(backend: Backend, listener: tokio::net::TcpListener) -> AuthServer {
        let db = TestDb::new(backend).await;
        let config = auth_service::testing::config(
            &db.url().expose_url(),
            ADMIN_PASSWORD,
            "internal-secret-for-tests",
        );
        let server = TestServer::spawn_on(listener, |listener, shutdown| {
            auth_service::serve(config, listener, shutdown)
        })
        .await;
        AuthServer { server, db }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn auth(&self) -> auth_pb::auth_service_client::AuthServiceClient<Channel> {
        auth_pb::auth_service_client::AuthServiceClient::new(self.server.channel.clone())
    }

    /// auth-service's store over its database (for what the API rightly refuses, such as an
    /// access-token lifetime under a minute).
    async fn store(&self) -> auth_service::store::Store {
        let pool = db_core::Pool::connect(self.db.url(), &db_core::PoolConfig::default())
            .await
            .unwrap();
        auth_service::store::Store::new(pool)
    }

    fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }

    fn users(
        &self,
        token: &str,
    ) -> auth_pb::user_service_client::UserServiceClient<
        tonic::service::interceptor::InterceptedService<Channel, Bearer>,
    > {
        auth_pb::user_service_client::UserServiceClient::with_interceptor(
            self.server.channel.clone(),
            bearer(token),
        )
    }

    /// Password grant with the CLI's client.
    async fn login(&self, username: &str, password: &str) -> auth_pb::TokenResponse {
        self.auth()
            .token(auth_pb::TokenRequest {
                grant_type: "password".into(),
                client_id: "codelab-cli".into(),
                username: username.into(),
                password: password.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("login as {username}: {s:?}"))
            .into_inner()
    }

    async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// agent-runtime trusting `auth_url` (no JWKS URL: the gRPC `GetJwks` source).
async fn agent_runtime_trusting(backend: Backend, auth_url: String) -> TestApp {
    agent_runtime_trusting_with(backend, auth_url, |_| {}).await
}

async fn agent_runtime_trusting_with(
    backend: Backend,
    auth_url: String,
    tweak: impl FnOnce(&mut agent_runtime::config::Config),
) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.auth.jwks_url = None;
        c.auth.auth_service_url = auth_url;
        c.auth.jwks_fetch_timeout_ms = 1_000;
        tweak(c);
    })
    .await
}

async fn list_sessions(
    app: &TestApp,
    token: &str,
) -> Result<pb::ListSessionsResponse, tonic::Status> {
    app.sessions(token)
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .map(tonic::Response::into_inner)
}

async fn the_whole_flow_through_auth_service(backend: Backend) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let auth = AuthServer::start(backend, listener).await;
    // No clock-skew allowance, so an expired token is refused the second it expires.
    let app = agent_runtime_trusting_with(backend, auth.url(), |c| c.auth.leeway_secs = 0).await;

    // The seeded admin logs in and creates a user.
    let admin = auth.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(admin.token_type, "Bearer");
    assert!(admin.scope.contains("api:admin"), "{}", admin.scope);
    let created = auth
        .users(&admin.access_token)
        .create_user(auth_pb::CreateUserRequest {
            username: "carol".into(),
            email: "carol@example.com".into(),
            password: "carol-password-1".into(),
            scopes: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    // The user logs in and writes and reads messages in agent-runtime.
    let carol = auth.login("carol", "carol-password-1").await;
    let mut sessions = app.sessions(&carol.access_token);
    let appended = append(
        &mut sessions,
        "carol-1",
        vec![user("hi"), assistant("hello")],
    )
    .await;
    assert_eq!((appended.first_seq, appended.last_seq), (1, 2));
    let session = appended.session.unwrap();
    assert_eq!(session.owner, created.user_id, "owner is the token's sub");
    let messages = walk(&mut sessions, "carol-1", 10).await;
    let texts: Vec<_> = messages.iter().filter_map(|m| m.content.clone()).collect();
    assert_eq!(texts, ["hi", "hello"]);
    // The admin sees carol's session; carol's token is not an admin token.
    let all = list_sessions(&app, &admin.access_token).await.unwrap();
    assert_eq!(all.total_size, 1);
    let cleanup = app
        .sessions(&carol.access_token)
        .cleanup_sessions(pb::CleanupSessionsRequest::default())
        .await;
    assert_status(cleanup, Code::PermissionDenied, None);

    // Refresh: a new pair, and the new access token works too.
    let refreshed = auth
        .auth()
        .token(auth_pb::TokenRequest {
            grant_type: "refresh_token".into(),
            client_id: "codelab-cli".into(),
            refresh_token: carol.refresh_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(refreshed.refresh_token, carol.refresh_token);
    let mine = list_sessions(&app, &refreshed.access_token).await.unwrap();
    assert_eq!(mine.sessions[0].session_id, "carol-1");

    // Revoke (as carol): the refresh token no longer yields access tokens.
    let mut revoke = tonic::Request::new(auth_pb::RevokeTokenRequest {
        token: refreshed.refresh_token.clone(),
        token_type_hint: "refresh_token".into(),
        ..Default::default()
    });
    revoke.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", refreshed.access_token)
            .parse()
            .unwrap(),
    );
    auth.auth().revoke_token(revoke).await.unwrap();
    let again = auth
        .auth()
        .token(auth_pb::TokenRequest {
            grant_type: "refresh_token".into(),
            client_id: "codelab-cli".into(),
            refresh_token: refreshed.refresh_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::Unauthenticated, "{again:?}");
    assert!(again.message().starts_with("invalid_grant"), "{again:?}");

    // Revocation stops access within one access-token lifetime: access tokens are verified
    // offline, so the last one works until its `exp`, then agent-runtime refuses it. A client
    // whose tokens live 5 s shows it (the API's minimum is 60 s; the store takes less).
    let mut clients =
        auth_pb::client_service_client::ClientServiceClient::new(auth.server.channel.clone());
    clients
        .create_client(AuthServer::with_token(
            &admin.access_token,
            auth_pb::CreateClientRequest {
                client_id: "short-lived".into(),
                name: "short-lived tokens".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    auth.store()
        .await
        .update_client(
            "short-lived".into(),
            auth_service::model::ClientUpdate {
                access_token_lifetime_secs: Some(5),
                ..Default::default()
            },
            auth_service::model::Audit::new(
                auth_service::model::AuditEvent::ClientUpdated,
                true,
                &auth_service::model::RequestContext::default(),
            ),
        )
        .await
        .unwrap();
    let short = auth
        .auth()
        .token(auth_pb::TokenRequest {
            grant_type: "password".into(),
            client_id: "short-lived".into(),
            username: "carol".into(),
            password: "carol-password-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(short.expires_in, 5);
    auth.auth()
        .revoke_token(AuthServer::with_token(
            &short.access_token,
            auth_pb::RevokeTokenRequest {
                token: short.refresh_token.clone(),
                token_type_hint: "refresh_token".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let refused = auth
        .auth()
        .token(auth_pb::TokenRequest {
            grant_type: "refresh_token".into(),
            client_id: "short-lived".into(),
            refresh_token: short.refresh_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        refused.message().starts_with("invalid_grant"),
        "{refused:?}"
    );
    list_sessions(&app, &short.access_token)
        .await
        .expect("until it expires, the last access token still works (verified offline)");
    let exp = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&short.access_token)
        .unwrap()
        .claims["exp"]
        .as_i64()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64((exp as f64 - now).max(0.0) + 1.1)).await;
    let expired = assert_status(
        list_sessions(&app, &short.access_token).await,
        Code::Unauthenticated,
        None,
    );
    use tonic_types::StatusExt as _;
    assert_eq!(
        expired.get_error_details().error_info().unwrap().reason,
        "TOKEN_EXPIRED"
    );

    // A token not issued by this auth-service (the fixture key) is refused.
    assert_status(
        list_sessions(&app, &alice()).await,
        Code::Unauthenticated,
        None,
    );

    app.shutdown().await;
    auth.stop().await;
}

async fn start_before_auth_service_outlive_it_and_follow_rotation(backend: Backend) {
    // agent-runtime starts first, against an address where nothing listens yet.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let auth_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let late_auth = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let listener = tokio::net::TcpListener::bind(auth_addr).await.unwrap();
        AuthServer::start(backend, listener).await
    });
    let app_db_backend = backend;
    let app = tokio::spawn(async move {
        agent_runtime_trusting(app_db_backend, format!("http://{auth_addr}")).await
    });
    let auth = late_auth.await.unwrap();
    let app = app.await.unwrap();

    let first = auth.login("admin", ADMIN_PASSWORD).await;
    list_sessions(&app, &first.access_token).await.unwrap();

    // A new signing key: the next token names a kid agent-runtime has not seen, which makes it
    // fetch the key set again.
    let mut rotate = tonic::Request::new(auth_pb::RotateSigningKeyRequest {});
    rotate.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", first.access_token).parse().unwrap(),
    );
    let rotated = auth
        .auth()
        .rotate_signing_key(rotate)
        .await
        .unwrap()
        .into_inner();
    let second = auth.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(kid(&second.access_token), rotated.kid);
    assert_ne!(kid(&first.access_token), kid(&second.access_token));
    list_sessions(&app, &second.access_token).await.unwrap();
    list_sessions(&app, &first.access_token).await.unwrap();

    // auth-service goes away: the cached keys keep verifying tokens.
    auth.stop().await;
    list_sessions(&app, &first.access_token).await.unwrap();
    list_sessions(&app, &second.access_token).await.unwrap();
    app.shutdown().await;
}

/// The `kid` of a JWT's header.
fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}
