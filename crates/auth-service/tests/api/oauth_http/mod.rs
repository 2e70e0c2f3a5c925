//! The OAuth endpoints over HTTP: driven by a standard client (the `oauth2` crate), refused
//! with RFC 6749 §5.2 answers for every kind of bad request (plain `reqwest`), and checked
//! against the OpenAPI document the repository ships.

mod cors;
mod errors;
mod openapi;
mod standard_client;

use crate::helpers::*;

/// `http://<addr>` of `app`.
pub fn base(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

/// A client that never follows redirects (the `oauth2` crate's advice against SSRF).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// POSTs `body` as a form to `path` of `app`, with `headers`.
pub async fn post_form(
    app: &TestApp,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = http_client()
        .post(format!("{}{path}", base(app)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The status, `error` and `error_description` of a refused request, after checking it
/// forbids caching.
pub async fn refusal(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap().to_owned(),
        body["error_description"].as_str().unwrap().to_owned(),
    )
}
