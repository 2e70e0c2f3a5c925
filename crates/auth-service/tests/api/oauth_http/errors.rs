//! Every kind of bad request to the OAuth endpoints, sent with plain `reqwest`: each gets its
//! RFC status and error, and writes nothing; failures count toward the lockout whichever
//! surface (gRPC or HTTP) they come from.

use super::{base, http_client, post_form, refusal};
use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;

backend_tests!(
    malformed_and_duplicated_forms_are_refused_and_write_nothing,
    wrong_content_types_and_oversize_bodies_are_refused,
    grants_and_clients_get_rfc_6749_errors,
    lockout_counts_failures_on_both_surfaces,
    introspection_needs_a_confidential_client_or_an_admin,
    the_rate_limit_answers_429_with_retry_after,
    grpc_revocation_and_introspection_take_client_authentication,
);

const LOGIN: &str = "grant_type=password&client_id=codelab-cli&username=admin";

async fn malformed_and_duplicated_forms_are_refused_and_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let right = format!("{LOGIN}&password={ADMIN_PASSWORD}");
    let many: Vec<String> = (0..40).map(|i| format!("p{i}=1")).collect();
    let cases = [
        (
            format!("{right}&grant_type=password"),
            "`grant_type` is given more than once",
        ),
        (
            format!("{right}&scope=&scope=api:read"),
            "`scope` is given more than once",
        ),
        (
            format!("{right}&username=eve"),
            "`username` is given more than once",
        ),
        (format!("{right}&x=%FF%FE"), "`x` is not UTF-8"),
        (format!("{right}&=1"), "a parameter has no name"),
        (
            format!("{right}&{}", many.join("&")),
            "more than 32 parameters",
        ),
    ];
    for (body, why) in &cases {
        let (status, error, description) =
            refusal(post_form(&app, "/oauth/token", body, &[]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_request"), "{body}");
        assert!(description.contains(why), "{description} should say {why}");
    }
    let raw = http_client()
        .post(format!("{}/oauth/token", base(&app)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{right}&x=caf\u{e9}").into_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(raw).await.0, 400);
    // None of them reached the grant: no login, no failure counted.
    assert!(app.audit("login_success").await.is_empty());
    assert!(app.audit("login_failed").await.is_empty());
    // The well-formed request works.
    let ok = post_form(&app, "/oauth/token", &right, &[]).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(app.audit("login_success").await.len(), 1);
}

async fn wrong_content_types_and_oversize_bodies_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_request_bytes = 4096).await;
    let url = format!("{}/oauth/token", base(&app));
    let right = format!("{LOGIN}&password={ADMIN_PASSWORD}");
    let json = http_client()
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"password"}"#)
        .send()
        .await
        .unwrap();
    let (status, error, description) = refusal(json).await;
    assert_eq!((status, error.as_str()), (415, "invalid_request"));
    assert!(description.contains("application/json"), "{description}");
    let none = http_client()
        .post(&url)
        .body(right.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(none).await.0, 415);

    // Declared too large: refused before reading.
    let padding = "a".repeat(5000);
    let large = post_form(&app, "/oauth/token", &format!("{right}&pad={padding}"), &[]).await;
    let (status, error, description) = refusal(large).await;
    assert_eq!((status, error.as_str()), (413, "invalid_request"));
    assert!(description.contains("4096 bytes"), "{description}");
    // Chunked, no length declared: refused once the limit is passed.
    let chunked = raw_http(
        &app,
        &format!(
            "POST /oauth/token HTTP/1.1\r\nhost: x\r\ncontent-type: \
             application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\n\
             connection: close\r\n\r\n{:x}\r\n{padding}\r\n0\r\n\r\n",
            padding.len()
        ),
    )
    .await;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert!(app.audit("login_success").await.is_empty());
}

/// A body that never finishes arriving is refused after the read timeout (backend-agnostic:
/// SQLite only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_refused_with_408() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let answer = raw_http(
        &app,
        "POST /oauth/token HTTP/1.1\r\nhost: x\r\ncontent-type: \
         application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type=pass",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 10 s"), "{answer}");
}

/// Sends `request` as raw bytes and returns the raw response.
async fn raw_http(app: &TestApp, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut response),
    )
    .await;
    String::from_utf8_lossy(&response).into_owned()
}

/// A form body, its headers, and the status and `error` it must get.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);

async fn grants_and_clients_get_rfc_6749_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let basic = |id: &str, secret: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    let wrong_basic = basic("codelab-internal", "wrong-secret");
    let right_basic = basic("codelab-internal", INTERNAL_SECRET);
    let cases: [Case<'_>; 10] = [
        (
            "grant_type=authorization_code&client_id=codelab-cli&code=x",
            &[],
            400,
            "unsupported_grant_type",
        ),
        (
            "client_id=codelab-cli&username=admin&password=x",
            &[],
            400,
            "invalid_request",
        ),
        (
            "grant_type=password&username=admin&password=x",
            &[],
            400,
            "invalid_request",
        ),
        (
            &format!("{LOGIN}&password=wrong-password"),
            &[],
            400,
            "invalid_grant",
        ),
        (
            &format!("{LOGIN}&password={ADMIN_PASSWORD}&scope=api:everything"),
            &[],
            400,
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&client_id=codelab-cli",
            &[],
            400,
            "unauthorized_client",
        ),
        (
            "grant_type=client_credentials&client_id=no-such-client&client_secret=s",
            &[],
            401,
            "invalid_client",
        ),
        (
            "grant_type=client_credentials",
            &[("authorization", &wrong_basic)],
            401,
            "invalid_client",
        ),
        (
            "grant_type=client_credentials&client_secret=s",
            &[("authorization", &right_basic)],
            400,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials",
            &[("authorization", "Digest abc")],
            401,
            "invalid_client",
        ),
    ];
    for (body, headers, status, error) in cases {
        let response = post_form(&app, "/oauth/token", body, headers).await;
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(response.headers()["pragma"], "no-cache", "{body}");
        let (got, got_error, _) = refusal(response).await;
        assert_eq!((got, got_error.as_str()), (status, error), "{body}");
        if status == 401 {
            assert_eq!(
                challenge.as_deref(),
                Some("Basic realm=\"auth-service\""),
                "{body}"
            );
        }
    }
    // The same client with the right Basic credentials gets a token.
    let ok = post_form(
        &app,
        "/oauth/token",
        "grant_type=client_credentials&scope=api:read",
        &[("authorization", &right_basic)],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    assert_eq!(ok.headers()["pragma"], "no-cache");
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api:read");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    assert!(body.get("refresh_token").is_none(), "{body}");
}

async fn lockout_counts_failures_on_both_surfaces(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("grace", "grace-password").await;
    // Five wrong passwords (the limit), alternating gRPC and HTTP.
    for i in 0..5 {
        if i % 2 == 0 {
            expect_err(
                app.login("grace", "wrong-guess").await,
                Code::Unauthenticated,
                "INVALID_GRANT",
            );
        } else {
            let wrong = "grant_type=password&client_id=codelab-cli&username=grace&password=wrong";
            let (status, error, _) =
                refusal(post_form(&app, "/oauth/token", wrong, &[]).await).await;
            assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        }
    }
    assert_eq!(app.audit("login_failed").await.len(), 5);
    // Locked on both: even the right password.
    let right = "grant_type=password&client_id=codelab-cli&username=grace&password=grace-password";
    let locked = post_form(&app, "/oauth/token", right, &[]).await;
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry_after), "{retry_after}");
    let (status, error, _) = refusal(locked).await;
    assert_eq!((status, error.as_str()), (429, "invalid_grant"));
    expect_err(
        app.login("grace", "grace-password").await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
}

async fn introspection_needs_a_confidential_client_or_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    app.create_user("ada", "ada-password").await;
    let user = app.login("ada", "ada-password").await.unwrap().access_token;
    let ask = |headers: Vec<(&'static str, String)>, body: String| {
        let app = &app;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            post_form(app, "/oauth/introspect", &body, &headers).await
        }
    };
    let token = format!("token={user}");
    // No credentials, or a public client: invalid_client.
    let (status, error, _) = refusal(ask(vec![], token.clone()).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    let public = ask(vec![], format!("{token}&client_id=codelab-cli")).await;
    let (status, error, description) = refusal(public).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert!(description.contains("confidential"), "{description}");
    // A bearer without api:admin: 403 insufficient_scope.
    let plain = ask(
        vec![("authorization", format!("Bearer {user}"))],
        token.clone(),
    )
    .await;
    assert!(
        plain.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    let (status, error, _) = refusal(plain).await;
    assert_eq!((status, error.as_str()), (403, "insufficient_scope"));
    // A bad bearer: 401 invalid_token.
    let bad = ask(
        vec![("authorization", "Bearer not.a.token".into())],
        token.clone(),
    )
    .await;
    let (status, error, _) = refusal(bad).await;
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    // No token: invalid_request.
    let none = ask(
        vec![("authorization", format!("Bearer {admin}"))],
        String::new(),
    )
    .await;
    assert_eq!(refusal(none).await.1, "invalid_request");
    // An admin bearer and a confidential client both see the token.
    let by_admin = ask(
        vec![("authorization", format!("Bearer {admin}"))],
        token.clone(),
    )
    .await;
    assert_eq!(by_admin.status(), 200);
    let body: serde_json::Value = by_admin.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], "ada");
    let by_client = ask(
        vec![],
        format!("{token}&client_id=codelab-internal&client_secret={INTERNAL_SECRET}"),
    )
    .await;
    let body: serde_json::Value = by_client.json().await.unwrap();
    assert_eq!(body["active"], true);
    // An unknown token is just inactive, with nothing else said.
    let unknown = ask(
        vec![],
        format!("token=nope&client_id=codelab-internal&client_secret={INTERNAL_SECRET}"),
    )
    .await;
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"active": false}));
}

async fn the_rate_limit_answers_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.rate_limit = auth_service::config::RateLimitSettings {
            requests_per_second: 1,
            burst: 2,
        }
    })
    .await;
    let wrong = format!("{LOGIN}&password=wrong");
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let response = post_form(&app, "/oauth/token", &wrong, &[]).await;
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    // The server's own health checks may spend part of the burst; at least the last is refused.
    let last = last.unwrap();
    assert_eq!(last.headers()["retry-after"], "1");
    let (status, error, _) = refusal(last).await;
    assert_eq!(
        (status, error.as_str()),
        (429, "rate_limited"),
        "{statuses:?}"
    );
    // Refused requests never reached the grant.
    assert!(app.audit("login_failed").await.len() <= 2);
}

async fn grpc_revocation_and_introspection_take_client_authentication(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    // Introspection by a confidential client; a public one is refused.
    let seen = app
        .auth("")
        .introspect_token(pb::IntrospectTokenRequest {
            token: login.access_token.clone(),
            client_id: "codelab-internal".into(),
            client_secret: INTERNAL_SECRET.into(),
            ..Default::default()
        })
        .await
        .expect("introspection by a confidential client")
        .into_inner();
    assert!(seen.active);
    assert_eq!(seen.username, "admin");
    expect_err(
        app.auth("")
            .introspect_token(pb::IntrospectTokenRequest {
                token: login.access_token.clone(),
                client_id: "codelab-cli".into(),
                ..Default::default()
            })
            .await,
        Code::Unauthenticated,
        "INVALID_CLIENT",
    );
    // A confidential client with a wrong secret is refused; the token stays usable.
    expect_err(
        app.auth("")
            .revoke_token(pb::RevokeTokenRequest {
                token: login.refresh_token.clone(),
                client_id: "codelab-internal".into(),
                client_secret: "wrong-secret".into(),
                ..Default::default()
            })
            .await,
        Code::Unauthenticated,
        "INVALID_CLIENT",
    );
    // The public client it was issued to revokes it without any access token.
    app.auth("")
        .revoke_token(pb::RevokeTokenRequest {
            token: login.refresh_token.clone(),
            client_id: "codelab-cli".into(),
            ..Default::default()
        })
        .await
        .expect("revocation by client_id");
    expect_err(
        crate::fixtures::refresh(&app, "codelab-cli", &login.refresh_token).await,
        Code::Unauthenticated,
        "INVALID_GRANT",
    );
    // Without a client or a bearer, the RPC says what is missing.
    expect_err(
        app.auth("")
            .revoke_token(pb::RevokeTokenRequest {
                token: login.refresh_token,
                ..Default::default()
            })
            .await,
        Code::Unauthenticated,
        "MISSING_TOKEN",
    );
}
