//! The key sources: file, HTTP, auth-service's GetJwks, and choosing one from a URL.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;

use super::support::*;

#[tokio::test]
async fn file_jwks_reads_a_file() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), JWKS).unwrap();
    let source = FileJwks::new(file.path());
    let set = source.fetch().await.unwrap();
    let kids: Vec<_> = set
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(kids, ["rsa-1", "ec-1", "ed-1"]);
    assert!(source.describe().starts_with("file:///"));

    std::fs::write(file.path(), "{not json").unwrap();
    assert!(matches!(
        source.fetch().await,
        Err(AuthError::JwksUnavailable(_))
    ));
    std::fs::write(file.path(), vec![b' '; MAX_JWKS_BYTES + 1]).unwrap();
    assert!(matches!(
        source.fetch().await,
        Err(AuthError::JwksUnavailable(_))
    ));
    let missing = FileJwks::new("/nonexistent/codelab/jwks.json");
    let err = missing.fetch().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::JwksUnavailable(m) if m.contains("/nonexistent/codelab/jwks.json")),
        "{err:?}"
    );
}

#[test]
fn parse_jwk_set_skips_unparsable_keys() {
    let set = parse_jwk_set(format!(r#"{{"keys":[{RSA1_JWK}, 42, "x"]}}"#).as_bytes()).unwrap();
    assert_eq!(set.keys.len(), 1);
    assert!(matches!(
        parse_jwk_set(b"[]"),
        Err(AuthError::JwksUnavailable(_))
    ));
}

#[tokio::test]
async fn jwks_source_from_url_checks_the_scheme() {
    let timeout = Duration::from_secs(1);
    for bad in [
        "ftp://x",
        "x",
        "",
        "file://relative/jwks.json",
        "gopher://h/jwks",
    ] {
        let err = jwks_source_from_url(bad, timeout).err().expect(bad);
        assert!(
            matches!(&err, AuthError::Config(m) if m.contains("AGENT_RUNTIME__AUTH__JWKS_URL")),
            "{bad}: {err:?}"
        );
    }
    let file = jwks_source_from_url("file:///etc/codelab/jwks.json", timeout).unwrap();
    assert_eq!(file.describe(), "file:///etc/codelab/jwks.json");
    let http = jwks_source_from_url("HTTP://127.0.0.1:8080/jwks", timeout).unwrap();
    assert_eq!(http.describe(), "http://127.0.0.1:8080/jwks");
    let https =
        jwks_source_from_url("https://user:pw@auth.example/jwks?token=x#f", timeout).unwrap();
    assert_eq!(https.describe(), "https://auth.example/jwks");
}

/// A JWK Set endpoint on 127.0.0.1 (axum) answering GET `/.well-known/jwks.json` with
/// `answer` (status, JSON body), or never within the client's timeout when `None` (it waits
/// 5 s). Returns the endpoint's URL; the server stops with the test's runtime.
async fn jwks_server(answer: Option<(StatusCode, &'static str)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = move || async move {
        let (status, body) = match answer {
            Some(answer) => answer,
            None => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                (StatusCode::OK, "")
            }
        };
        (status, [(CONTENT_TYPE, "application/json")], body)
    };
    let app = axum::Router::new().route("/.well-known/jwks.json", axum::routing::get(answer));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/.well-known/jwks.json")
}

fn loopback_client() -> reqwest::Client {
    // No proxy: the test server is on loopback.
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

#[tokio::test]
async fn http_jwks_fetches_from_a_loopback_server() {
    let url = jwks_server(Some((StatusCode::OK, JWKS))).await;
    let source: Arc<dyn JwksSource> =
        Arc::new(HttpJwks::with_client(&url, loopback_client()).unwrap());
    assert_eq!(source.describe(), url);
    let auth = tokio::time::timeout(
        Duration::from_secs(5),
        Authenticator::new(&config(), source),
    )
    .await
    .unwrap()
    .unwrap();
    let ed = sign(Algorithm::EdDSA, Some("ed-1"), ED1_KEY, &claims());
    assert_eq!(auth.verify(&ed).await.unwrap().subject, "user-1");
}

#[tokio::test]
async fn http_jwks_error_status_is_unavailable() {
    let url = jwks_server(Some((StatusCode::SERVICE_UNAVAILABLE, "{}"))).await;
    let source = HttpJwks::with_client(&url, loopback_client()).unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::JwksUnavailable(m) if m.contains("503")),
        "{err:?}"
    );
}

#[tokio::test]
async fn http_jwks_times_out() {
    let url = jwks_server(None).await;
    let source = HttpJwks::with_client(&url, loopback_client()).unwrap();
    let started = Instant::now();
    let err = source.fetch().await.unwrap_err();
    assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn http_jwks_rejects_non_http_urls() {
    assert!(matches!(
        HttpJwks::new("file:///x.json", Duration::from_secs(1)),
        Err(AuthError::Config(_))
    ));
}

// Building the lazy channel spawns its worker, so these tests need a runtime.
#[tokio::test]
async fn accepts_http_https_and_bare_host_port_only() {
    let t = Duration::from_secs(1);
    for bad in ["", "  ", "ftp://x", "http://"] {
        let err = GrpcJwks::new(bad, t).expect_err(bad);
        assert!(
            matches!(&err, AuthError::Config(m) if m.contains(AUTH_SERVICE_URL_ENV)),
            "{bad}: {err:?}"
        );
    }
    let s = GrpcJwks::new("127.0.0.1:50052", t).unwrap();
    assert!(s.describe().starts_with("http://127.0.0.1:50052 "));
    let s = GrpcJwks::new("HTTP://user:pw@auth:50052/x?y", t).unwrap();
    assert!(s.describe().starts_with("http://auth:50052 "), "{s:?}");
    let s = GrpcJwks::new("https://auth:50052", t).unwrap();
    assert!(s.describe().starts_with("https://auth:50052 "), "{s:?}");
    let missing = service_kit::client::ClientTls::with_ca(Some("/nonexistent/ca.pem".into()));
    let err = GrpcJwks::with_tls("https://auth:50052", t, &missing).unwrap_err();
    assert!(
        matches!(&err, AuthError::Config(m) if m.contains(CA_FILE_ENV) && m.contains("/nonexistent/ca.pem")),
        "{err:?}"
    );
}

#[tokio::test]
async fn nobody_listening_is_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let source = GrpcJwks::new(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_millis(500),
    )
    .unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::JwksUnavailable(m) if m.contains(&port.to_string())),
        "{err:?}"
    );
}
