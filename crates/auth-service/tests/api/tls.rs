//! TLS on every hop of auth-service (gRPC and the HTTP JWK Set route on one port), mTLS, the
//! agent-runtime → auth-service key fetch over https, and the request limit on every service.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::admin::v1 as admin_pb;
use codelab_proto::agent::v1 as agent_pb;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use db_core::testing::TestDb;
use secrecy::SecretString;
use service_kit::client::ClientTls;
use service_kit::testing::TestPki;
use service_kit::tls::TlsSettings;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

backend_tests!(request_limit_applies_to_every_service);

/// A server task that stops when dropped, then its database goes.
struct Serving {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
    _db: TestDb,
}

/// auth-service over a fresh SQLite database, with the TLS settings `tls`.
async fn spawn_auth(tls: TlsSettings) -> Serving {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = test_config(&db);
    config.tls = tls;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(auth_service::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    Serving {
        addr,
        _stop: stop,
        _db: db,
    }
}

/// A test CA in a temporary folder (which goes when the returned `TempDir` is dropped).
fn test_pki() -> (tempfile::TempDir, TestPki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "test CA");
    (dir, pki)
}

/// An access token of the seeded admin (password grant) over `channel`.
async fn admin_token(channel: Channel) -> String {
    pb::auth_service_client::AuthServiceClient::new(channel)
        .token(password_grant("codelab-cli", "admin", ADMIN_PASSWORD))
        .await
        .unwrap()
        .into_inner()
        .access_token
}

/// A channel to `https://127.0.0.1:port` trusting `tls`, once the server answers its health
/// check; `Err` with the last error when it never does.
async fn tls_channel(addr: SocketAddr, tls: &ClientTls) -> Result<Channel, String> {
    let endpoint = tls
        .apply_to_endpoint(
            Endpoint::from_shared(format!("https://127.0.0.1:{}", addr.port()))
                .unwrap()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10)),
        )
        .unwrap();
    let mut last = String::new();
    for _ in 0..100 {
        match endpoint.connect().await {
            Ok(channel) => {
                let ok = HealthClient::new(channel.clone())
                    .check(HealthCheckRequest::default())
                    .await;
                match ok {
                    Ok(r) if r.get_ref().status == 1 => return Ok(channel),
                    Ok(r) => last = format!("status {}", r.get_ref().status),
                    Err(e) => last = format!("{e:?}"),
                }
            }
            Err(e) => last = format!("{e:?}"),
        }
        // Start-up (migrations, keys) may still be running.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

fn jwks_client(tls: &ClientTls) -> reqwest::Client {
    tls.apply_to_reqwest(reqwest::Client::builder().timeout(Duration::from_secs(5)))
        .unwrap()
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_the_jwks_route_are_served_over_tls() {
    let (_dir, mut pki) = test_pki();
    let cert = pki.server("auth", "auth-service");
    let server = spawn_auth(pki.settings(&cert, false)).await;

    let channel = tls_channel(server.addr, &pki.client_tls(None))
        .await
        .expect("served over TLS");
    let grpc = pb::auth_service_client::AuthServiceClient::new(channel.clone())
        .get_jwks(pb::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys_json;
    let token = admin_token(channel).await;
    assert!(!token.is_empty());

    // The HTTP/1.1 route on the same port, over https.
    let url = format!(
        "https://127.0.0.1:{}/.well-known/jwks.json",
        server.addr.port()
    );
    let response = jwks_client(&pki.client_tls(None))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), grpc);
    // Not with plaintext, not without the CA.
    let plain = format!(
        "http://127.0.0.1:{}/.well-known/jwks.json",
        server.addr.port()
    );
    assert!(reqwest::get(&plain).await.is_err());
    assert!(
        jwks_client(&ClientTls::default())
            .get(&url)
            .send()
            .await
            .is_err()
    );
    let plain_grpc = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    if let Ok(channel) = plain_grpc {
        assert!(
            HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await
                .is_err()
        );
    }
}

/// Both services with TLS, auth-service requiring client certificates: agent-runtime fetches
/// the keys over https with its client certificate and accepts a token auth-service issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_runtime_fetches_keys_over_mutual_tls_and_validates_tokens() {
    let (_dir, mut pki) = test_pki();
    let auth_cert = pki.server("auth", "auth-service");
    let runtime_cert = pki.server("runtime", "agent-runtime");
    let runtime_identity = pki.client("runtime-client", "agent-runtime");
    let cli_identity = pki.client("cli", "codelab");

    let auth = spawn_auth(pki.settings(&auth_cert, true)).await;

    // Without a client certificate auth-service refuses the handshake; with one it answers.
    let refused = tls_channel(auth.addr, &pki.client_tls(None)).await;
    assert!(refused.is_err(), "no client certificate must be refused");
    let jwks_url = format!(
        "https://127.0.0.1:{}/.well-known/jwks.json",
        auth.addr.port()
    );
    assert!(
        jwks_client(&pki.client_tls(None))
            .get(&jwks_url)
            .send()
            .await
            .is_err()
    );
    let response = jwks_client(&pki.client_tls(Some(&cli_identity)))
        .get(&jwks_url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let channel = tls_channel(auth.addr, &pki.client_tls(Some(&cli_identity)))
        .await
        .expect("served with a client certificate");
    let token = admin_token(channel).await;

    // agent-runtime: served over TLS, keys from https://auth-service with its certificate.
    let runtime_db = TestDb::new(Backend::Sqlite).await;
    let mut runtime = agent_runtime::config::Config {
        db_url: SecretString::from(runtime_db.url().expose_url()),
        shutdown_grace_secs: 2,
        ..Default::default()
    };
    runtime.auth.auth_service_url = format!("https://localhost:{}", auth.addr.port());
    runtime.auth.ca_file = Some(pki.ca_file.clone());
    runtime.auth.client_cert_file = Some(runtime_identity.cert_file.clone());
    runtime.auth.client_key_file = Some(runtime_identity.key_file.clone());
    runtime.auth.startup_wait_secs = 10;
    runtime.tls = pki.settings(&runtime_cert, false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_addr = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(agent_runtime::serve(runtime, listener, async move {
        let _ = stopped.await;
    }));

    let channel = tls_channel(runtime_addr, &pki.client_tls(None))
        .await
        .expect("agent-runtime over TLS");
    let mut sessions = agent_pb::session_service_client::SessionServiceClient::with_interceptor(
        channel.clone(),
        bearer(&token),
    );
    sessions
        .list_sessions(agent_pb::ListSessionsRequest::default())
        .await
        .expect("a token from auth-service is accepted");
    let mut anonymous = agent_pb::session_service_client::SessionServiceClient::new(channel);
    let refused = anonymous
        .list_sessions(agent_pb::ListSessionsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}

/// Every service auth-service serves, not only its own three, refuses a request over
/// `AUTH_SERVICE__MAX_REQUEST_BYTES` with RESOURCE_EXHAUSTED and ErrorInfo `REQUEST_TOO_LARGE`.
async fn request_limit_applies_to_every_service(backend: Backend) {
    use tonic_types::StatusExt;
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let limit = 64 * 1024;
    let mut db_admin = admin_pb::database_admin_client::DatabaseAdminClient::with_interceptor(
        app.channel.clone(),
        bearer(&admin),
    );
    let refused = db_admin
        .create_backup(admin_pb::CreateBackupRequest {
            name: "n".repeat(70 * 1024),
            ..Default::default()
        })
        .await;
    let mut health = HealthClient::new(app.channel.clone());
    let refused_health = health
        .check(HealthCheckRequest {
            service: "s".repeat(70 * 1024),
        })
        .await;
    let refused_auth = app
        .auth("")
        .token(password_grant("codelab-cli", &"u".repeat(70 * 1024), "x"))
        .await;
    for result in [
        refused.map(|_| ()),
        refused_health.map(|_| ()),
        refused_auth.map(|_| ()),
    ] {
        let status = result.expect_err("over the limit");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        let details = status.get_error_details();
        let info = details.error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "REQUEST_TOO_LARGE");
        assert_eq!(info.domain, "auth-service");
        assert_eq!(info.metadata["limit_bytes"], limit.to_string());
        let size: usize = info.metadata["size_bytes"].parse().unwrap();
        assert!(size > limit);
    }
    // The connection and the server keep serving.
    let ok = health.check(HealthCheckRequest::default()).await.unwrap();
    assert_eq!(ok.into_inner().status, 1);
    app.shutdown().await;
}
