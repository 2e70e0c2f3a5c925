//! `codelab auth rotate-kek` as an operator runs it: the real binary on an auth database (SQLite
//! and PostgreSQL) whose signing keys are sealed under one key-encryption key, re-encrypting
//! them under a new one.

use auth_service::kek::{KEK_ENV, Keks};
use auth_service::store::{Reseal, Store};
use db_core::Backend;
use db_core::testing::TestDb;
use secrecy::{ExposeSecret as _, SecretString};

use crate::support;
use crate::support::services::db_url;

db_core::backend_tests!(rotate_kek_reencrypts_every_key_under_the_first_kek);

/// Runs `codelab auth rotate-kek --json` in an empty folder with only `env` of the services'
/// variables set.
async fn rotate_kek(env: Vec<(&'static str, String)>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        support::codelab_isolated(&["auth", "rotate-kek", "--json"], &env)
    })
    .await
    .unwrap()
}

fn keks(list: &str) -> Keks {
    Keks::parse(&SecretString::from(list.to_owned()), KEK_ENV).unwrap()
}

/// Whether every stored key opens under `list` (nothing is rewritten: each is already sealed).
async fn opens_under(store: &Store, list: &str) -> bool {
    store
        .seal_signing_keys(&keks(list), Reseal::Plaintext)
        .await
        .is_ok()
}

async fn rotate_kek_reencrypts_every_key_under_the_first_kek(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db_url(&db);
    let k1 = Keks::generate().expose_secret().to_owned();
    let k2 = Keks::generate().expose_secret().to_owned();
    // An auth database as auth-service leaves it: migrated, a first key sealed under K1.
    let pool = db_core::Pool::connect(db.url(), &db_core::PoolConfig::default())
        .await
        .unwrap();
    db_core::migrate::run_pending(&pool, &auth_service::migrations::MIGRATIONS)
        .await
        .unwrap();
    let store = Store::new(pool);
    auth_service::keys::KeyRing::load(
        store.clone(),
        keks(&k1),
        "https://auth.codelab.local".into(),
        "codelab-api".into(),
        30,
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(opens_under(&store, &k1).await);
    assert!(!opens_under(&store, &k2).await);

    // Without a KEK, or with one that does not open the rows: refused, naming the variable,
    // nothing changed.
    for env in [
        vec![("AUTH_SERVICE__DB_URL", url.clone())],
        vec![
            ("AUTH_SERVICE__DB_URL", url.clone()),
            ("AUTH_SERVICE__KEY_ENCRYPTION_KEY", k2.clone()),
        ],
    ] {
        let out = rotate_kek(env).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(KEK_ENV), "{stderr}");
        assert!(!stderr.contains(&k2), "a KEK reached the output");
    }
    assert!(opens_under(&store, &k1).await);

    // K2 first, K1 still listed: every row re-encrypted under K2, in one go.
    let out = rotate_kek(vec![
        ("AUTH_SERVICE__DB_URL", url.clone()),
        ("AUTH_SERVICE__KEY_ENCRYPTION_KEY", format!("{k2},{k1}")),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["kek_id"], keks(&k2).primary_id());
    assert_eq!(report["keys"], 1);
    assert_eq!(report["reencrypted_kids"].as_array().unwrap().len(), 1);
    assert!(!stdout.contains(&k1) && !stdout.contains(&k2));
    assert!(
        opens_under(&store, &k2).await,
        "opens with the new KEK alone"
    );
    assert!(
        !opens_under(&store, &k1).await,
        "the old KEK no longer opens it"
    );
}
