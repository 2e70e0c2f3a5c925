//! Client authentication is bounded: wrong secrets are counted and lock the client and the
//! address like password guesses, a locked client is refused without any check, and
//! confidential-client secrets are stored as SHA-256 (no argon2 per check).

use crate::backend_tests;
use crate::fixtures::*;
use crate::helpers::*;
use auth_service::store::Store;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use secrecy::SecretString;
use tonic::Code;

backend_tests!(
    wrong_client_secrets_lock_the_client_until_its_secret_is_rotated,
    a_client_lockout_ends_after_its_duration,
    secrets_for_unknown_clients_lock_the_address,
    client_secrets_are_sha256_and_old_argon2_secrets_are_upgraded,
    unknown_users_cost_the_work_of_a_stored_hash,
);

/// A confidential client allowed client_credentials; returns its secret.
async fn confidential(app: &TestApp, client_id: &str) -> String {
    let admin = app.admin().await;
    app.clients(&admin)
        .create_client(pb::CreateClientRequest {
            client_id: client_id.into(),
            name: client_id.into(),
            is_confidential: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .client_secret
}

async fn wrong_client_secrets_lock_the_client_until_its_secret_is_rotated(backend: Backend) {
    let app = TestApp::spawn_behind_proxy(backend, |_| {}).await;
    let secret = confidential(&app, "batch-job").await;
    // Twenty guesses at once, each from its own address: only the client limit (5) applies.
    let guess = credentials("batch-job", "wrong-secret-guess");
    let (wrong, locked) = twenty_parallel_guesses(&app, "10.1.0", guess).await;
    assert_eq!((wrong, locked), (5, 15), "exactly the limit is checked");
    assert_eq!(app.audit("client_auth_failed").await.len(), 5);
    let lockouts = app.audit("lockout").await;
    assert_eq!(lockouts.len(), 1);
    assert_eq!(lockouts[0].client_id.as_deref(), Some("batch-job"));
    // Locked: the right secret is refused too, with a retry delay.
    let status = expect_err(
        app.auth_from("10.9.9.9")
            .token(credentials("batch-job", &secret))
            .await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
    assert_retry_after_the_lockout(&status);
    // Other clients are not affected.
    app.auth_from("10.9.9.9")
        .token(credentials("codelab-internal", INTERNAL_SECRET))
        .await
        .expect("another client");
    // A new secret ends the lockout.
    let admin = app.admin().await;
    let rotated = app
        .clients(&admin)
        .update_client(pb::UpdateClientRequest {
            client_id: "batch-job".into(),
            rotate_secret: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .client_secret;
    app.auth_from("10.9.9.9")
        .token(credentials("batch-job", &rotated))
        .await
        .expect("the new secret works at once");
}

async fn a_client_lockout_ends_after_its_duration(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.lockout.lockout_secs = 1).await;
    let secret = confidential(&app, "nightly").await;
    for _ in 0..5 {
        let e = app.auth("").token(credentials("nightly", "nope")).await;
        expect_err(e, Code::Unauthenticated, "INVALID_CLIENT");
    }
    let e = app.auth("").token(credentials("nightly", &secret)).await;
    expect_err(e, Code::ResourceExhausted, "TOO_MANY_ATTEMPTS");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.auth("")
        .token(credentials("nightly", &secret))
        .await
        .expect("the lockout ended");
    // And the success started the count again.
    let e = app.auth("").token(credentials("nightly", "nope")).await;
    expect_err(e, Code::Unauthenticated, "INVALID_CLIENT");
}

async fn secrets_for_unknown_clients_lock_the_address(backend: Backend) {
    let app = TestApp::spawn_behind_proxy(backend, |_| {}).await;
    let mut auth = app.auth_from("203.0.113.9");
    for i in 0..10 {
        let e = auth
            .token(credentials(&format!("no-such-client-{i}"), "a-secret"))
            .await;
        expect_err(e, Code::Unauthenticated, "INVALID_CLIENT");
    }
    assert_eq!(app.audit("client_auth_failed").await.len(), 10);
    // The address is locked, for client secrets and for passwords alike.
    let e = auth
        .token(credentials("codelab-internal", INTERNAL_SECRET))
        .await;
    expect_err(e, Code::ResourceExhausted, "TOO_MANY_ATTEMPTS");
    let e = auth
        .token(password_grant("codelab-cli", "admin", ADMIN_PASSWORD))
        .await;
    expect_err(e, Code::ResourceExhausted, "TOO_MANY_ATTEMPTS");
    app.auth_from("203.0.113.10")
        .token(credentials("codelab-internal", INTERNAL_SECRET))
        .await
        .expect("another address");
}

async fn client_secrets_are_sha256_and_old_argon2_secrets_are_upgraded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = confidential(&app, "reporting").await;
    let store = store(&app).await;
    let stored = |store: Store| async move {
        store
            .client("reporting".into())
            .await
            .unwrap()
            .unwrap()
            .client_secret_hash
            .unwrap()
    };
    let new = stored(store.clone()).await;
    assert!(new.starts_with("$sha256$"), "{new}");
    assert!(!new.contains(&secret));
    // A secret stored before this form existed: an argon2 hash.
    let passwords = auth_service::passwords::Passwords::new(&fast_passwords()).unwrap();
    let old = passwords
        .hash(&SecretString::from(secret.clone()))
        .await
        .unwrap();
    store
        .rehash_client_secret("reporting".into(), new, old.clone())
        .await
        .unwrap();
    assert!(stored(store.clone()).await.starts_with("$argon2id$"));
    let e = app.auth("").token(credentials("reporting", "wrong")).await;
    expect_err(e, Code::Unauthenticated, "INVALID_CLIENT");
    assert_eq!(
        stored(store.clone()).await,
        old,
        "a wrong secret changes nothing"
    );
    app.auth("")
        .token(credentials("reporting", &secret))
        .await
        .expect("the argon2 hash still verifies");
    let upgraded = stored(store.clone()).await;
    assert!(upgraded.starts_with("$sha256$"), "{upgraded}");
    app.auth("")
        .token(credentials("reporting", &secret))
        .await
        .expect("the upgraded form verifies");
    // A short, operator-chosen secret (guessable) keeps a password hash.
    let internal = store
        .client("codelab-internal".into())
        .await
        .unwrap()
        .unwrap();
    assert!(
        internal
            .client_secret_hash
            .unwrap()
            .starts_with("$argon2id$")
    );
}

/// An unknown username is verified against the stored hash of an existing user, so its cost
/// is of the kind real users' hashes have (bcrypt, older argon2 parameters, current ones).
async fn unknown_users_cost_the_work_of_a_stored_hash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = store(&app).await;
    let mut stored = std::collections::BTreeSet::new();
    for i in 0..3 {
        let hash = bcrypt::hash(format!("imported-{i}"), 4).unwrap();
        insert_user_with_hash(&store, &format!("imported{i}"), &hash).await;
        stored.insert(hash);
    }
    let admin = store
        .user_by_username("admin".into())
        .await
        .unwrap()
        .unwrap();
    stored.insert(admin.password_hash);
    let mut kinds = std::collections::BTreeSet::new();
    for i in 0..64 {
        let name = format!("ghost{i}");
        let sample = store.timing_sample(name.clone()).await.unwrap().unwrap();
        assert!(stored.contains(&sample), "{sample}");
        assert_eq!(store.timing_sample(name).await.unwrap().unwrap(), sample);
        kinds.insert(sample[..4].to_owned());
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["$2b$", "$arg"],
        "both kinds are drawn"
    );
    // The login itself answers as for a wrong password.
    let e = app.login("ghost1", "whatever-password").await;
    expect_err(e, Code::Unauthenticated, "INVALID_GRANT");
}
