//! Test server, clients and logins.

use auth_service::config::Config;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use db_core::testing::TestDb;
use pb::auth_service_client::AuthServiceClient;
use pb::client_service_client::ClientServiceClient;
use pb::user_service_client::UserServiceClient;
use secrecy::SecretString;
pub use service_kit::testing::{Bearer, TestServer, bearer, connect};
use std::net::SocketAddr;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const INTERNAL_SECRET: &str = "internal-secret-123";
/// The key-encryption key every test server gets (base64 of 32 bytes).
pub const TEST_KEK: &str = "Y29kZWxhYi10ZXN0LWtlay1vbmUtMzItYnl0ZXMtb2s=";
/// Another valid key-encryption key (rotation tests).
pub const OTHER_KEK: &str = "Y29kZWxhYi10ZXN0LWtlay10d28tMzItYnl0ZXMtb2s=";

/// A running auth-service over its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub channel: Channel,
    /// Shared with replicas ([`TestApp::replica`]); dropped with the last of them.
    pub db: std::sync::Arc<TestDb>,
    server: TestServer<auth_service::ServeError>,
}

pub type Auth = AuthServiceClient<InterceptedService<Channel, Bearer>>;
pub type Users = UserServiceClient<InterceptedService<Channel, Bearer>>;
pub type Clients = ClientServiceClient<InterceptedService<Channel, Bearer>>;

pub use auth_service::testing::fast_passwords;

/// A configuration for tests: a known key-encryption key, no rate limit.
pub fn test_config(db: &TestDb) -> Config {
    Config {
        key_encryption_key: Some(SecretString::from(TEST_KEK)),
        // Tests call from one address far faster than a person; the limit has its own test.
        rate_limit: auth_service::config::RateLimitSettings {
            requests_per_second: 0,
            burst: 0,
        },
        ..auth_service::testing::config(&db.url().expose_url(), ADMIN_PASSWORD, INTERNAL_SECRET)
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    /// A server told it sits behind one proxy (`TRUST_FORWARDED_FOR`), so the
    /// `x-forwarded-for` of [`TestApp::auth_from`] is the client address.
    pub async fn spawn_behind_proxy(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::spawn_with(backend, |c| {
            c.lockout.trust_forwarded_for = true;
            tweak(c);
        })
        .await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let db = TestDb::new(backend).await;
        let mut config = test_config(&db);
        tweak(&mut config);
        TestApp::spawn_on(db, config).await
    }

    /// Serves `config` (whose database is `db`).
    pub async fn spawn_on(db: TestDb, config: Config) -> TestApp {
        TestApp::spawn_shared(std::sync::Arc::new(db), config).await
    }

    /// Another server on this one's database (a replica, or a restart once this one is shut
    /// down), with the test configuration changed by `tweak`.
    pub async fn replica(&self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(&self.db);
        tweak(&mut config);
        TestApp::spawn_shared(self.db.clone(), config).await
    }

    /// Serves `config` on `db`, which other servers (stopped or running) may share.
    pub async fn spawn_shared(db: std::sync::Arc<TestDb>, config: Config) -> TestApp {
        let server =
            TestServer::spawn(|listener, shutdown| auth_service::serve(config, listener, shutdown))
                .await;
        TestApp {
            addr: server.addr,
            channel: server.channel.clone(),
            db,
            server,
        }
    }

    pub fn auth(&self, token: &str) -> Auth {
        AuthServiceClient::with_interceptor(self.channel.clone(), bearer(token))
    }

    /// AuthService calls carrying `x-forwarded-for: <ip>` (the client address only on a
    /// server spawned with [`TestApp::spawn_behind_proxy`]).
    pub fn auth_from(&self, ip: &str) -> Auth {
        AuthServiceClient::with_interceptor(self.channel.clone(), bearer("").forwarded_for(ip))
    }

    pub fn users(&self, token: &str) -> Users {
        UserServiceClient::with_interceptor(self.channel.clone(), bearer(token))
    }

    pub fn clients(&self, token: &str) -> Clients {
        ClientServiceClient::with_interceptor(self.channel.clone(), bearer(token))
    }

    /// Password grant for `username` with client `codelab-cli`.
    pub async fn login(&self, username: &str, password: &str) -> Result<pb::TokenResponse, Status> {
        self.auth("")
            .token(password_grant("codelab-cli", username, password))
            .await
            .map(tonic::Response::into_inner)
    }

    /// An access token of the seeded admin (all scopes).
    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD)
            .await
            .expect("admin login")
            .access_token
    }

    /// Creates user `username` (password `password`, default scopes) as admin.
    pub async fn create_user(&self, username: &str, password: &str) -> pb::User {
        let admin = self.admin().await;
        self.users(&admin)
            .create_user(pb::CreateUserRequest {
                username: username.into(),
                email: format!("{username}@example.org"),
                password: password.into(),
                scopes: String::new(),
            })
            .await
            .expect("create user")
            .into_inner()
    }

    /// Audit entries of `event`, newest first (read straight from the database).
    pub async fn audit(&self, event: &str) -> Vec<auth_service::store::AuditEntry> {
        let pool = db_core::Pool::connect(self.db.url(), &db_core::PoolConfig::default())
            .await
            .unwrap();
        let store = auth_service::store::Store::new(pool);
        store
            .recent_audit(Some(event.to_owned()), 1000)
            .await
            .unwrap()
    }

    /// Stops the server and waits for it; panics if it failed.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

pub fn password_grant(client_id: &str, username: &str, password: &str) -> pb::TokenRequest {
    pb::TokenRequest {
        grant_type: "password".into(),
        client_id: client_id.into(),
        username: username.into(),
        password: password.into(),
        ..Default::default()
    }
}

pub fn refresh_grant(client_id: &str, refresh_token: &str) -> pb::TokenRequest {
    pb::TokenRequest {
        grant_type: "refresh_token".into(),
        client_id: client_id.into(),
        refresh_token: refresh_token.into(),
        ..Default::default()
    }
}

/// Asserts `result` failed with `code` and ErrorInfo `reason`; returns the status.
#[track_caller]
pub fn expect_err<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    reason: &str,
) -> Status {
    let status = result.expect_err("expected an error");
    assert_eq!(status.code(), code, "{status:?}");
    use tonic_types::StatusExt as _;
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "auth-service");
    status
}

/// The claims of a JWT, without verifying it.
pub fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
