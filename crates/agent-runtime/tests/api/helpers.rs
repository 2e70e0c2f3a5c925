//! Test server, clients and tokens.

use agent_runtime::config::Config;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use db_core::testing::TestDb;
use pb::agent_context_service_client::AgentContextServiceClient;
use pb::approval_service_client::ApprovalServiceClient;
use pb::session_service_client::SessionServiceClient;
use secrecy::SecretString;
pub use service_kit::testing::{Bearer, TestServer, bearer};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A running agent-runtime over its own database.
pub struct TestApp {
    pub channel: Channel,
    pub db: TestDb,
    server: TestServer<agent_runtime::ServeError>,
}

pub type Sessions = SessionServiceClient<InterceptedService<Channel, Bearer>>;
pub type Agents = AgentContextServiceClient<InterceptedService<Channel, Bearer>>;
pub type Approvals = ApprovalServiceClient<InterceptedService<Channel, Bearer>>;

/// A configuration for tests: JWT auth with the fixture key set.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config {
        db_url: SecretString::from(db.url().expose_url()),
        page_token_secret: Some(SecretString::from("test page token secret")),
        health_check_interval_ms: 200,
        shutdown_grace_secs: 5,
        ..Config::default()
    };
    config.auth.jwks_url = Some(format!("file://{FIXTURES}/jwks.json"));
    config
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let db = TestDb::new(backend).await;
        let mut config = test_config(&db);
        tweak(&mut config);
        let server = TestServer::spawn(|listener, shutdown| {
            agent_runtime::serve(config, listener, shutdown)
        })
        .await;
        TestApp {
            channel: server.channel.clone(),
            db,
            server,
        }
    }

    /// `http://` and the server's address, for plain HTTP and gRPC-Web requests.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn sessions(&self, token: &str) -> Sessions {
        SessionServiceClient::with_interceptor(self.channel.clone(), bearer(token))
    }

    pub fn agents(&self, token: &str) -> Agents {
        AgentContextServiceClient::with_interceptor(self.channel.clone(), bearer(token))
    }

    pub fn approvals(&self, token: &str) -> Approvals {
        ApprovalServiceClient::with_interceptor(self.channel.clone(), bearer(token))
    }

    /// Stops the server and waits for it; panics if it failed.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// An RS256 access token from the fixture key `rsa-1`, valid for 10 minutes.
pub fn token(sub: &str, scope: &str) -> String {
    token_with(serde_json::json!({ "sub": sub, "scope": scope }))
}

/// A token with the default claims overridden/extended by `extra`; a `null` in `extra` removes
/// that claim.
pub fn token_with(extra: serde_json::Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::json!({
        "iss": "https://auth.codelab.local",
        "aud": "codelab-api",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid::Uuid::new_v4().to_string(),
        "type": "access",
        "client_id": "codelab-flutter-app",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        std::fs::read(format!("{FIXTURES}/rsa-1.key.pem"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// Token of user `alice` with read and write.
pub fn alice() -> String {
    token("alice", "api:read api:write")
}

/// Token of user `bob` with read and write.
pub fn bob() -> String {
    token("bob", "api:read api:write")
}

/// Token of an administrator.
pub fn admin() -> String {
    token("root", "api:read api:write api:admin")
}

/// A user message.
pub fn user(text: &str) -> pb::Message {
    pb::Message {
        role: pb::Role::User as i32,
        content: Some(text.into()),
        ..Default::default()
    }
}

/// An assistant message.
pub fn assistant(text: &str) -> pb::Message {
    pb::Message {
        role: pb::Role::Assistant as i32,
        content: Some(text.into()),
        ..Default::default()
    }
}

/// Asserts `result` failed with `code` and, when given, a BadRequest naming `field`.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    field: Option<&str>,
) -> Status {
    use tonic_types::StatusExt;
    let status = result.expect_err("expected an error status");
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let details = status.get_error_details();
    let info = details.error_info().expect("every error carries ErrorInfo");
    assert_eq!(info.domain, "agent-runtime");
    assert!(
        !info.reason.is_empty() && info.reason == info.reason.to_uppercase(),
        "reason {:?}",
        info.reason
    );
    if let Some(field) = field {
        let fields: Vec<_> = details
            .bad_request()
            .expect("BadRequest detail")
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, vec![field.to_owned()]);
        // A bad field's reason names it (`messages[2].role` → INVALID_ROLE).
        if code == Code::InvalidArgument && info.reason != "MESSAGE_TOO_LARGE" {
            let leaf = field.rsplit('.').next().unwrap_or_default();
            let leaf = leaf.split('[').next().unwrap_or_default();
            assert_eq!(
                info.reason,
                format!("INVALID_{}", leaf.to_ascii_uppercase())
            );
            assert_eq!(info.metadata["field"], field);
        }
    }
    status
}

/// A connection of the test's own to the app's database, for what the API does not show.
pub async fn direct_connection(app: &TestApp) -> db_core::DbConn {
    let pool = db_core::Pool::connect(app.db.url(), &db_core::PoolConfig::default())
        .await
        .unwrap();
    pool.get().await.unwrap()
}

/// Creates session `id` for the token's user.
pub async fn create(client: &mut Sessions, id: &str) -> pb::Session {
    client
        .create_session(pb::CreateSessionRequest {
            session_id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Appends `messages` to `id` (creating it) and returns the response.
pub async fn append(
    client: &mut Sessions,
    id: &str,
    messages: Vec<pb::Message>,
) -> pb::AppendMessagesResponse {
    client
        .append_messages(pb::AppendMessagesRequest {
            session_id: id.into(),
            messages,
            create_if_missing: true,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Every message of `id`, walking forward with `page_size`.
pub async fn walk(client: &mut Sessions, id: &str, page_size: i32) -> Vec<pb::Message> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_messages(pb::ListMessagesRequest {
                session_id: id.into(),
                page_size,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.messages);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

/// `token` (a real page token) with one bit of its position flipped: well-formed, signed
/// before the change, so only the signature check can refuse it.
pub fn tampered(token: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw = URL_SAFE_NO_PAD
        .decode(token)
        .expect("a page token is base64url");
    // Layout: version (1) | kind (1) | fingerprint (8) | position (16) | mac (16).
    raw[17] ^= 0x01;
    URL_SAFE_NO_PAD.encode(raw)
}
