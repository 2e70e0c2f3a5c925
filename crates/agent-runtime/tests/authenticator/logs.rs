//! Tokens never appear in logs or errors.

use super::support::*;

#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;
    fn make_writer(&'a self) -> LogBuf {
        self.clone()
    }
}

#[tokio::test]
async fn tokens_never_appear_in_logs_or_errors() {
    let logs = LogBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let source = TestSource::new(JWKS);
    let cfg = AuthConfig {
        jwks_refresh_min_interval_secs: 0,
        ..config()
    };
    let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
    source.fail("auth server down");
    let tokens = [
        rs256(&claims_with("exp", json!(now() - 3600))),
        sign(Algorithm::RS256, Some("rsa-1"), RSA2_KEY, &claims()),
        sign(Algorithm::RS256, Some("rotated"), RSA2_KEY, &claims()),
        sign(Algorithm::HS256, Some("rsa-1"), RSA1_PUB, &claims()),
        rs256(&claims_with("type", json!("refresh"))),
    ];
    let mut errors = String::new();
    for token in &tokens {
        let err = auth
            .authenticate(&bearer(&format!("Bearer {token}")))
            .await
            .unwrap_err();
        errors.push_str(&format!("{err} {err:?}\n"));
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("keeping cached keys"),
        "log capture works: {logs}"
    );
    for token in &tokens {
        let signature = token.rsplit('.').next().unwrap();
        for haystack in [&logs, &errors] {
            assert!(!haystack.contains(token.as_str()));
            assert!(!haystack.contains(signature));
        }
    }
}
