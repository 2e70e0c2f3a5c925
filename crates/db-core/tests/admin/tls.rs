//! PostgreSQL over TLS: `sslmode` and `sslrootcert` of the URL, on every connection path (pool,
//! dedicated connections of migrations and backups, restore's COPY connection), against a
//! throwaway cluster that serves TLS and refuses plaintext (`hostssl` only).

use super::tls_cluster::{Cluster, TestPki};
use super::*;
use db_core::admin::backup::RestoreOptions;
use db_core::{PgRootCert, PgSslMode, migrate};

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

/// Whether the pool's connection to `url` runs over TLS, as the server sees it.
async fn ssl_in_use(url: &str) -> Result<bool, String> {
    let url = DbUrl::parse(url).map_err(|e| e.to_string())?;
    let pool = Pool::connect(&url, &PoolConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let row: Ssl = db_core::with_connection!(conn, |c| {
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .get_result(c)
            .await
            .map_err(|e| e.to_string())?
    });
    Ok(row.ssl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_runs_pool_migrations_backup_and_restore_over_tls() {
    let pki = TestPki::new();
    let cluster = Cluster::start(Some(&pki));
    let admin = cluster.url("127.0.0.1", "postgres", "sslmode=require");
    assert_eq!(ssl_in_use(&admin).await, Ok(true));
    exec(&DbUrl::parse(&admin).unwrap(), "CREATE DATABASE source").await;
    exec(&DbUrl::parse(&admin).unwrap(), "CREATE DATABASE target").await;
    let source = DbUrl::parse(&cluster.url("127.0.0.1", "source", "sslmode=require")).unwrap();
    let target = DbUrl::parse(&cluster.url("127.0.0.1", "target", "sslmode=require")).unwrap();
    // Migrations (a dedicated connection), then the pool.
    migrate::migrate(&source, &SET, None).await.unwrap();
    seed(&source).await;
    let expected = dump(&source).await;
    // Backup (a dedicated connection), then restore (the COPY connection).
    let dir = tempfile::tempdir().unwrap();
    let info = backup_to(&source, dir.path(), Compression::Zstd).await;
    let report = backup::restore(
        &info.path,
        &target,
        &SET,
        RestoreOptions {
            force: false,
            safety_dir: dir.path(),
            progress: &NoProgress,
        },
    )
    .await
    .unwrap();
    assert!(report.safety_backup.is_none());
    assert_eq!(dump(&target).await, expected);
    assert!(admin::drift(&target, &SET).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_ca_and_the_host_name() {
    let pki = TestPki::new();
    let cluster = Cluster::start(Some(&pki));
    let ca = cluster.file("ca.pem", &pki.ca_pem);
    let other_ca = cluster.file("other-ca.pem", &TestPki::new().ca_pem);
    let ca = ca.display();
    let other_ca = other_ca.display();

    // The certificate is issued for `localhost` by the CA named.
    let full = format!("sslmode=verify-full&sslrootcert={ca}");
    assert_eq!(
        ssl_in_use(&cluster.url("localhost", "postgres", &full)).await,
        Ok(true)
    );
    // Another CA: refused, with the reason and the file in the message.
    let wrong_ca = format!("sslmode=verify-full&sslrootcert={other_ca}");
    let err = ssl_in_use(&cluster.url("localhost", "postgres", &wrong_ca))
        .await
        .unwrap_err();
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(err.contains(&format!("sslrootcert={other_ca}")), "{err}");
    // Another host name (the address is not in the certificate): refused.
    let err = ssl_in_use(&cluster.url("127.0.0.1", "postgres", &full))
        .await
        .unwrap_err();
    assert!(
        err.contains("certificate not valid for name \"127.0.0.1\""),
        "{err}"
    );
    assert!(err.contains("sslmode=verify-full"), "{err}");
    // verify-ca checks the chain only: the address is fine, another CA is not.
    let ca_only = format!("sslmode=verify-ca&sslrootcert={ca}");
    assert_eq!(
        ssl_in_use(&cluster.url("127.0.0.1", "postgres", &ca_only)).await,
        Ok(true)
    );
    let wrong = format!("sslmode=verify-ca&sslrootcert={other_ca}");
    let err = ssl_in_use(&cluster.url("127.0.0.1", "postgres", &wrong))
        .await
        .unwrap_err();
    assert!(err.contains("invalid peer certificate"), "{err}");
    // `sslrootcert=system` trusts the Mozilla roots, which never signed the test CA.
    let err = ssl_in_use(&cluster.url("localhost", "postgres", "sslrootcert=system"))
        .await
        .unwrap_err();
    assert!(
        err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    assert!(
        err.contains("sslmode=verify-full, sslrootcert=system"),
        "{err}"
    );
    // libpq's rule: `require` (and `prefer`) with a root certificate behave as verify-ca.
    for mode in ["require", "prefer"] {
        let params = format!("sslmode={mode}&sslrootcert={other_ca}");
        let err = ssl_in_use(&cluster.url("127.0.0.1", "postgres", &params))
            .await
            .unwrap_err();
        assert!(err.contains("invalid peer certificate"), "{mode}: {err}");
        let params = format!("sslmode={mode}&sslrootcert={ca}");
        assert_eq!(
            ssl_in_use(&cluster.url("127.0.0.1", "postgres", &params)).await,
            Ok(true),
            "{mode}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_is_refused_and_prefer_uses_tls_when_offered() {
    let pki = TestPki::new();
    let tls = Cluster::start(Some(&pki));
    let err = ssl_in_use(&tls.url("127.0.0.1", "postgres", "sslmode=disable"))
        .await
        .unwrap_err();
    assert!(err.contains("no encryption"), "{err}");
    assert!(err.contains("sslmode=disable"), "{err}");
    // `prefer` is the default.
    for params in ["sslmode=prefer", ""] {
        assert_eq!(
            ssl_in_use(&tls.url("127.0.0.1", "postgres", params)).await,
            Ok(true),
            "{params}"
        );
    }

    // A server without TLS: `prefer` falls back to plaintext, `require` refuses.
    let plain = Cluster::start(None);
    for params in ["sslmode=prefer", "", "sslmode=disable"] {
        assert_eq!(
            ssl_in_use(&plain.url("127.0.0.1", "postgres", params)).await,
            Ok(false),
            "{params}"
        );
    }
    let err = ssl_in_use(&plain.url("127.0.0.1", "postgres", "sslmode=require"))
        .await
        .unwrap_err();
    assert!(err.contains("server does not support TLS"), "{err}");
}

#[test]
fn tls_parameters_are_read_as_libpq_reads_them() {
    let tls = |raw: &str| DbUrl::parse(raw).unwrap().postgres_tls().unwrap().unwrap();
    let plain = tls("postgres://u:p@db/app");
    assert_eq!(plain.mode, PgSslMode::Prefer);
    assert_eq!(plain.root_cert, None);
    assert!(!plain.checks_certificate());
    let full = tls("postgresql://u:p@db/app?sslmode=verify-full&sslrootcert=/etc/ca%2B1.pem");
    assert_eq!(full.mode, PgSslMode::VerifyFull);
    assert_eq!(
        full.root_cert,
        Some(PgRootCert::File("/etc/ca+1.pem".into()))
    );
    let system = tls("postgres://db/app?sslrootcert=system");
    assert_eq!(system.mode, PgSslMode::VerifyFull);
    assert_eq!(system.root_cert, Some(PgRootCert::System));
    assert!(tls("postgres://db/app?sslmode=require&sslrootcert=/ca.pem").checks_certificate());
    assert!(!tls("postgres://db/app?sslmode=disable&sslrootcert=/ca.pem").checks_certificate());
    assert_eq!(DbUrl::parse("sqlite:///x.db").unwrap().postgres_tls(), None);
}

#[test]
fn invalid_tls_parameters_are_named() {
    let err = |raw: &str| DbUrl::parse(raw).unwrap_err().to_string();
    let bad_mode = err("postgres://u:s3cret@db/app?sslmode=verify_full");
    assert!(
        bad_mode.contains("invalid sslmode `verify_full`")
            && bad_mode.contains("disable, prefer, require, verify-ca, verify-full"),
        "{bad_mode}"
    );
    assert!(!bad_mode.contains("s3cret"), "{bad_mode}");
    // libpq's `allow` is not offered.
    assert!(err("postgres://db/app?sslmode=allow").contains("invalid sslmode"));
    for mode in ["verify-ca", "verify-full"] {
        let missing = err(&format!("postgres://db/app?sslmode={mode}"));
        assert!(
            missing.contains(&format!("sslmode={mode} needs sslrootcert")),
            "{missing}"
        );
    }
    let weak = err("postgres://db/app?sslmode=require&sslrootcert=system");
    assert!(weak.contains("sslrootcert=system"), "{weak}");
    assert!(err("postgres://db/app?sslrootcert=").contains("sslrootcert is empty"));
    // Other parameters are still tokio-postgres's to judge, now with its reason.
    let url = DbUrl::parse("postgres://u:s3cret@db/app?sslmode=require&colour=blue").unwrap();
    let unknown = Pool::new(&url, &PoolConfig::default())
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("unknown option `colour`"), "{unknown}");
    assert!(!unknown.contains("s3cret"), "{unknown}");
}

#[tokio::test]
async fn an_unreadable_or_empty_root_certificate_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let url = DbUrl::parse(&format!(
        "postgres://127.0.0.1:1/x?sslmode=verify-full&sslrootcert={}",
        missing.display()
    ))
    .unwrap();
    let e = Pool::new(&url, &PoolConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read sslrootcert") && e.contains("missing.pem"),
        "{e}"
    );
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let url = DbUrl::parse(&format!(
        "postgres://127.0.0.1:1/x?sslmode=verify-ca&sslrootcert={}",
        empty.display()
    ))
    .unwrap();
    let e = Pool::new(&url, &PoolConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no PEM certificate"), "{e}");
    // A dedicated connection (migrations, backups) reports it the same way.
    let e = migrate::migrate(&url, &SET, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no PEM certificate"), "{e}");
}
