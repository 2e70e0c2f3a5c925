//! CORS on the token endpoint: none by default; for the configured origins a preflight is
//! answered and answers carry `access-control-allow-origin`, so a browser app on another
//! origin can call `/oauth/token` (`AUTH_SERVICE__CORS__ALLOWED_ORIGINS`).

use super::{base, http_client, post_form};
use crate::backend_tests;
use crate::helpers::*;
use db_core::Backend;

backend_tests!(the_token_endpoint_answers_only_configured_origins);

const APP: &str = "https://app.example.com";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    http_client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/oauth/token", base(app)),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

async fn the_token_endpoint_answers_only_configured_origins(backend: Backend) {
    let login = format!(
        "grant_type=password&client_id=codelab-cli&username=admin&password={ADMIN_PASSWORD}"
    );
    // The default: no CORS header at all, so browsers refuse cross-origin calls.
    let closed = TestApp::spawn(backend).await;
    let answer = preflight(&closed, APP).await;
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let token = post_form(&closed, "/oauth/token", &login, &[("origin", APP)]).await;
    assert_eq!(token.status(), 200, "the request itself is served");
    assert!(token.headers().get("access-control-allow-origin").is_none());
    closed.shutdown().await;

    let open = TestApp::spawn_with(backend, |c| {
        c.cors.allowed_origins = vec![APP.to_owned()];
    })
    .await;
    let answer = preflight(&open, APP).await;
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(answer.headers()["access-control-allow-origin"], APP);
    let allowed = answer.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    let token = post_form(&open, "/oauth/token", &login, &[("origin", APP)]).await;
    assert_eq!(token.status(), 200);
    assert_eq!(token.headers()["access-control-allow-origin"], APP);
    // A refusal is readable by the page too, with its challenge header exposed.
    let refused = post_form(
        &open,
        "/oauth/token",
        "grant_type=client_credentials&client_id=nobody&client_secret=x",
        &[("origin", APP)],
    )
    .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["access-control-allow-origin"], APP);
    let exposed = refused.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
    // Another origin gets nothing.
    let other = preflight(&open, "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
