//! First start without configured credentials: they are generated into the owner-only
//! credentials file, never into the log, and an unwritable file stops the start before any
//! account is stored.

use crate::backend_tests;
use crate::helpers::*;
use auth_service::credentials::{ADMIN_PASSWORD_KEY, CredentialsFile, INTERNAL_CLIENT_SECRET_KEY};
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use db_core::testing::TestDb;
use secrecy::ExposeSecret as _;

backend_tests!(
    generated_credentials_go_to_the_file_and_work,
    an_unwritable_credentials_file_stops_the_start_before_seeding,
);

async fn generated_credentials_go_to_the_file_and_work(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets/first-start.txt");
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.admin_password = None;
    config.internal_client_secret = None;
    config.credentials_file = Some(path.clone());
    let app = TestApp::spawn_on(db, config).await;

    let entries = CredentialsFile::new(&path).read().unwrap();
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.expose_secret().to_owned())
            .unwrap_or_else(|| panic!("{key} in the file"))
    };
    let (password, secret) = (get(ADMIN_PASSWORD_KEY), get(INTERNAL_CLIENT_SECRET_KEY));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    app.login("admin", &password).await.expect("admin login");
    app.auth("")
        .token(pb::TokenRequest {
            grant_type: "client_credentials".into(),
            client_id: "codelab-internal".into(),
            client_secret: secret.clone(),
            ..Default::default()
        })
        .await
        .expect("client_credentials with the generated secret");

    // A restart generates nothing and leaves the file alone.
    let before = std::fs::read_to_string(&path).unwrap();
    let again = app
        .replica(|c| {
            c.admin_password = None;
            c.internal_client_secret = None;
            c.credentials_file = Some(path.clone());
        })
        .await;
    app.shutdown().await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    again
        .login("admin", &password)
        .await
        .expect("same password");
    again.shutdown().await;
}

async fn an_unwritable_credentials_file_stops_the_start_before_seeding(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a folder should be: the file cannot be created.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "").unwrap();
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.admin_password = None;
    config.credentials_file = Some(blocker.join("credentials.txt"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = auth_service::serve(config, listener, std::future::pending())
        .await
        .expect_err("the start fails");
    let message = error.to_string();
    assert!(
        message.contains("credentials.txt") && message.contains("AUTH_SERVICE__CREDENTIALS_FILE"),
        "{message}"
    );
    let pool = db_core::Pool::connect(db.url(), &db_core::PoolConfig::default())
        .await
        .unwrap();
    let store = auth_service::store::Store::new(pool);
    assert!(
        store
            .user_by_username("admin".to_owned())
            .await
            .unwrap()
            .is_none(),
        "no admin whose password nobody could read"
    );
}
