//! Signing keys at rest: sealed under the key-encryption key (KEK), never plaintext in the
//! database or its backups; a missing or wrong KEK stops the start naming the variable; old
//! plaintext rows are sealed at the first start; the KEK rotates.

use crate::backend_tests;
use crate::helpers::*;
use auth_service::kek::{KEK_ENV, Keks};
use auth_service::schema::signing_keys;
use auth_service::store::{Reseal, Store};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use db_core::testing::TestDb;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use secrecy::SecretString;

backend_tests!(
    no_kek_or_a_malformed_one_stops_the_start,
    a_wrong_kek_stops_the_start_and_changes_nothing,
    plaintext_keys_from_before_are_sealed_at_the_first_start,
    the_kek_rotates,
    backups_carry_only_ciphertext,
    a_key_moved_to_another_row_does_not_open,
);

async fn pool(db: &TestDb) -> db_core::Pool {
    db_core::Pool::connect(db.url(), &db_core::PoolConfig::default())
        .await
        .unwrap()
}

/// `(kid, private_key_pem column)` of every signing key, oldest first.
async fn stored_keys(db: &TestDb) -> Vec<(String, String)> {
    let pool = pool(db).await;
    let mut conn = pool.get().await.unwrap();
    db_core::with_connection!(conn, |c| {
        signing_keys::table
            .select((signing_keys::kid, signing_keys::private_key_pem))
            .order(signing_keys::id)
            .load(c)
            .await
            .unwrap()
    })
}

async fn set_stored_key(db: &TestDb, kid: &str, stored: &str) {
    let pool = pool(db).await;
    let mut conn = pool.get().await.unwrap();
    let updated = db_core::with_connection!(conn, |c| {
        diesel::update(signing_keys::table.filter(signing_keys::kid.eq(kid)))
            .set(signing_keys::private_key_pem.eq(stored))
            .execute(c)
            .await
            .unwrap()
    });
    assert_eq!(updated, 1);
}

/// Starts a server on `db` with `kek` and expects it to refuse; returns its error.
async fn start_fails(db: &TestDb, kek: Option<&str>) -> String {
    let mut config = test_config(db);
    config.key_encryption_key = kek.map(SecretString::from);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = auth_service::serve(config, listener, std::future::pending()).await;
    result.expect_err("start-up must fail").to_string()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// The token is accepted by the service (introspection as itself).
async fn accepted(app: &TestApp, token: &str) -> bool {
    app.auth(token)
        .introspect_token(pb::IntrospectTokenRequest {
            token: token.to_owned(),
            ..Default::default()
        })
        .await
        .is_ok_and(|r| r.into_inner().active)
}

fn assert_sealed(rows: &[(String, String)]) {
    assert!(!rows.is_empty());
    for (kid, stored) in rows {
        assert!(stored.starts_with("kek1:"), "{kid} is not sealed");
        assert!(!stored.contains("PRIVATE KEY"), "{kid} is plaintext");
    }
}

async fn no_kek_or_a_malformed_one_stops_the_start(backend: Backend) {
    let db = TestDb::new(backend).await;
    for kek in [None, Some("not base64!"), Some("c2hvcnQ=")] {
        let error = start_fails(&db, kek).await;
        assert!(error.contains(KEK_ENV), "{kek:?}: {error}");
    }
}

async fn a_wrong_kek_stops_the_start_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin().await;
    let db = app.db.clone();
    app.shutdown().await;
    let before = stored_keys(&db).await;
    assert_sealed(&before);

    let error = start_fails(&db, Some(OTHER_KEK)).await;
    assert!(error.contains(KEK_ENV), "{error}");
    assert_eq!(stored_keys(&db).await, before, "nothing is rewritten");

    // The right KEK still works, with the same key.
    let again = TestApp::spawn_shared(db.clone(), test_config(&db)).await;
    assert!(accepted(&again, &token).await);
}

async fn plaintext_keys_from_before_are_sealed_at_the_first_start(backend: Backend) {
    let db = TestDb::new(backend).await;
    db_core::migrate::run_pending(&pool(&db).await, &auth_service::migrations::MIGRATIONS)
        .await
        .unwrap();
    // A row as the code before envelope encryption stored it: PKCS#8 PEM in the clear.
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let kid = "20260101-0ld0key0";
    let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
    let jwk =
        serde_json::json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
    {
        let pool = pool(&db).await;
        let mut conn = pool.get().await.unwrap();
        let now = db_core::timestamp::now();
        db_core::with_connection!(conn, |c| {
            diesel::insert_into(signing_keys::table)
                .values((
                    signing_keys::kid.eq(kid),
                    signing_keys::algorithm.eq("RS256"),
                    signing_keys::private_key_pem.eq(&pem),
                    signing_keys::public_jwk.eq(jwk.to_string()),
                    signing_keys::created_at.eq(now),
                ))
                .execute(c)
                .await
                .unwrap()
        });
    }
    assert!(stored_keys(&db).await[0].1.contains("PRIVATE KEY"));

    let config = test_config(&db);
    let app = TestApp::spawn_on(db, config).await;
    let rows = stored_keys(&app.db).await;
    assert_eq!(rows.len(), 1, "the old key is kept, not replaced");
    assert_eq!(rows[0].0, kid);
    assert_sealed(&rows);

    // Tokens are signed by the same key: same kid, and they verify with its public part.
    let token = app.admin().await;
    assert_eq!(kid_of(&token), kid);
    let key = jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["codelab-api"]);
    validation.set_issuer(&["https://auth.codelab.local"]);
    jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).expect("verifies");
    assert!(accepted(&app, &token).await);

    // A restart reads the sealed row and keeps signing with it.
    let db = app.db.clone();
    app.shutdown().await;
    let again = TestApp::spawn_shared(db.clone(), test_config(&db)).await;
    assert_eq!(kid_of(&again.admin().await), kid);
}

async fn the_kek_rotates(backend: Backend) {
    let k1 = TEST_KEK;
    let k2 = OTHER_KEK;
    let app = TestApp::spawn(backend).await;
    let token = app.admin().await;
    let db = app.db.clone();
    app.shutdown().await;

    // Step 1: the new KEK first in the list; old rows still open with the second.
    let both = format!("{k2},{k1}");
    let mut config = test_config(&db);
    config.key_encryption_key = Some(SecretString::from(both.clone()));
    let app = TestApp::spawn_shared(db.clone(), config).await;
    assert!(accepted(&app, &token).await);
    app.shutdown().await;

    // Step 2: re-encrypt every row under the first (what `codelab auth rotate-kek` runs).
    let keks = Keks::parse(&SecretString::from(both.clone()), KEK_ENV).unwrap();
    let store = Store::new(pool(&db).await);
    let sealed = store
        .seal_signing_keys(&keks, Reseal::NotUnderPrimary)
        .await
        .unwrap();
    assert_eq!(sealed.rows, 1);
    assert_eq!(sealed.rewritten, vec![kid_of(&token)]);
    let again = store
        .seal_signing_keys(&keks, Reseal::NotUnderPrimary)
        .await
        .unwrap();
    assert!(again.rewritten.is_empty(), "already under the first KEK");
    assert_sealed(&stored_keys(&db).await);

    // Step 3: the old KEK can go; without the new one the start fails naming the variable.
    let error = start_fails(&db, Some(k1)).await;
    assert!(error.contains(KEK_ENV), "{error}");
    let mut config = test_config(&db);
    config.key_encryption_key = Some(SecretString::from(k2));
    let app = TestApp::spawn_shared(db.clone(), config).await;
    assert!(
        accepted(&app, &token).await,
        "same signing key after the rotation"
    );
    assert_eq!(kid_of(&app.admin().await), kid_of(&token));
}

/// A server whose database holds two signing keys: the one made at its start and a newer one.
async fn spawn_with_two_keys(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    app.auth(&admin)
        .rotate_signing_key(pb::RotateSigningKeyRequest {})
        .await
        .unwrap();
    app
}

async fn backups_carry_only_ciphertext(backend: Backend) {
    let app = spawn_with_two_keys(backend).await;
    assert_eq!(stored_keys(&app.db).await.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let info = db_core::admin::backup::backup(
        app.db.url(),
        &auth_service::migrations::MIGRATIONS,
        db_core::admin::backup::BackupOptions {
            dir: dir.path(),
            label: None,
            compression: db_core::admin::backup::Compression::None,
            progress: &db_core::admin::NoProgress,
        },
    )
    .await
    .unwrap();
    let mut sealed_rows = 0;
    for entry in std::fs::read_dir(&info.path).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "plaintext key in the backup");
        sealed_rows += text.matches("kek1:").count();
    }
    assert_eq!(sealed_rows, 2, "both keys are in the backup, sealed");
}

async fn a_key_moved_to_another_row_does_not_open(backend: Backend) {
    let app = spawn_with_two_keys(backend).await;
    let db = app.db.clone();
    app.shutdown().await;
    // The older key's ciphertext copied onto the signing row: the kid is the associated data.
    let rows = stored_keys(&db).await;
    set_stored_key(&db, &rows[1].0, &rows[0].1).await;
    let error = start_fails(&db, Some(TEST_KEK)).await;
    assert!(error.contains(KEK_ENV), "{error}");
}
