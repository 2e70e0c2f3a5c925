//! Browsers and plain HTTP on the gRPC port: gRPC-Web over HTTP/1.1 (reqwest) and HTTP/2 (the
//! tonic channel), CORS, `GET /health`, unknown paths.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use reqwest::header::{HeaderMap, HeaderValue};
use tonic::codegen::{Body as _, Service as _, http};

backend_tests!(
    grpc_web_unary_calls_over_http1_and_http2,
    cors_answers_allowed_origins_only,
    health_and_unknown_paths
);

const LIST_SESSIONS: &str = "/codelab.agent.v1.SessionService/ListSessions";
const GRPC_WEB: &str = "application/grpc-web+proto";
const ORIGIN: &str = "http://app.test:3000";

/// A gRPC-Web answer: headers, then the body split into frames `(flag, payload)`.
struct WebAnswer {
    http_status: u16,
    headers: HeaderMap,
    frames: Vec<(u8, Vec<u8>)>,
}

impl WebAnswer {
    fn new(http_status: u16, headers: HeaderMap, body: &[u8]) -> WebAnswer {
        let mut frames = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            assert!(rest.len() >= 5, "truncated frame header: {rest:?}");
            let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
            frames.push((rest[0], rest[5..5 + len].to_vec()));
            rest = &rest[5 + len..];
        }
        WebAnswer {
            http_status,
            headers,
            frames,
        }
    }

    /// `grpc-status` as a gRPC-Web client reads it: from the trailer frame (flag 0x80), or
    /// from the headers of a trailers-only answer.
    fn grpc_status(&self) -> String {
        let trailers = self.frames.iter().find(|(flag, _)| flag & 0x80 != 0);
        if let Some((_, text)) = trailers {
            let text = String::from_utf8(text.clone()).unwrap();
            return text
                .split("\r\n")
                .find_map(|l| l.strip_prefix("grpc-status:"))
                .unwrap_or_else(|| panic!("no grpc-status in the trailers: {text:?}"))
                .trim()
                .to_owned();
        }
        self.headers["grpc-status"].to_str().unwrap().to_owned()
    }

    /// The single data frame (flag 0x00), decoded.
    fn message<M: prost::Message + Default>(&self) -> M {
        let data: Vec<_> = self.frames.iter().filter(|(flag, _)| *flag == 0).collect();
        assert_eq!(data.len(), 1, "one data frame");
        M::decode(data[0].1.as_slice()).unwrap()
    }
}

/// The 5-byte gRPC-Web frame of `message`: flag 0x00, length (u32 big-endian), message.
fn frame(message: &impl prost::Message) -> Vec<u8> {
    let payload = message.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Posts `body` as a gRPC-Web call to `path` over HTTP/1.1, with `token` when not empty.
async fn web_call(app_url: &str, path: &str, token: &str, body: Vec<u8>) -> WebAnswer {
    let mut request = reqwest::Client::new()
        .post(format!("{app_url}{path}"))
        .header("content-type", GRPC_WEB)
        .header("x-grpc-web", "1")
        .body(body);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    WebAnswer::new(status, headers, &response.bytes().await.unwrap())
}

/// Sends `request` over the app's HTTP/2 channel; status, headers and the whole body.
async fn h2_request(
    app: &TestApp,
    request: http::Request<tonic::body::Body>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    let mut channel = app.channel.clone();
    futures::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let response = channel.call(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) =
        futures::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if let Ok(data) = frame.unwrap().into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    (parts.status.as_u16(), parts.headers, bytes)
}

async fn grpc_web_unary_calls_over_http1_and_http2(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(&mut app.sessions(&alice()), "web-1").await;
    let request = frame(&pb::ListSessionsRequest::default());

    let answer = web_call(&app.url(), LIST_SESSIONS, &alice(), request.clone()).await;
    assert_eq!(answer.http_status, 200);
    assert_eq!(answer.headers["content-type"], GRPC_WEB);
    let list: pb::ListSessionsResponse = answer.message();
    let ids: Vec<_> = list
        .sessions
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(ids, ["web-1"]);
    assert_eq!(answer.frames.last().unwrap().0, 0x80, "trailers come last");
    assert_eq!(answer.grpc_status(), "0");

    // No token: UNAUTHENTICATED, as a gRPC client would get it.
    let refused = web_call(&app.url(), LIST_SESSIONS, "", request.clone()).await;
    assert_eq!(refused.http_status, 200);
    assert_eq!(refused.grpc_status(), "16");
    assert!(refused.frames.iter().all(|(flag, _)| *flag != 0), "no data");

    // The same call over HTTP/2 on the same port.
    let h2 = http::Request::post(format!("{}{LIST_SESSIONS}", app.url()))
        .header("content-type", GRPC_WEB)
        .header("x-grpc-web", "1")
        .header("authorization", format!("Bearer {}", alice()))
        .body(tonic::body::Body::new(axum::body::Body::from(request)))
        .unwrap();
    let (status, headers, body) = h2_request(&app, h2).await;
    let answer = WebAnswer::new(status, headers, &body);
    assert_eq!(answer.http_status, 200);
    assert_eq!(
        answer.message::<pb::ListSessionsResponse>().sessions.len(),
        1
    );
    assert_eq!(answer.grpc_status(), "0");

    // A gRPC-Web content type with GET is no call.
    let get = reqwest::Client::new()
        .get(format!("{}{LIST_SESSIONS}", app.url()))
        .header("content-type", GRPC_WEB)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    app.shutdown().await;
}

async fn cors_answers_allowed_origins_only(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.cors.allowed_origins = vec![ORIGIN.to_owned(), "https://other.test".to_owned()];
    })
    .await;
    let preflight = |origin: &str| {
        reqwest::Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}{LIST_SESSIONS}", app.url()),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout",
            )
            .send()
    };
    let allowed = preflight(ORIGIN).await.unwrap();
    assert_eq!(allowed.status().as_u16(), 200);
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], ORIGIN);
    let allow_headers = headers["access-control-allow-headers"].to_str().unwrap();
    for name in [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
    ] {
        assert!(allow_headers.contains(name), "{name} in {allow_headers}");
    }
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(headers["access-control-max-age"], "600");
    assert!(headers.get("access-control-allow-credentials").is_none());

    // The call itself: the origin echoed, the gRPC status readable.
    let call = reqwest::Client::new()
        .post(format!("{}{LIST_SESSIONS}", app.url()))
        .header("origin", ORIGIN)
        .header("content-type", GRPC_WEB)
        .header("x-grpc-web", "1")
        .body(frame(&pb::ListSessionsRequest::default()))
        .send()
        .await
        .unwrap();
    assert_eq!(call.headers()["access-control-allow-origin"], ORIGIN);
    let exposed = call.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(
        exposed.contains("grpc-status") && exposed.contains("grpc-message"),
        "{exposed}"
    );
    assert_eq!(call.headers()["grpc-status"], "16");

    // Another origin is not allowed: the browser refuses, lacking its origin in the answer.
    let other = preflight("http://evil.test").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    assert!(
        other.headers()["vary"].to_str().unwrap().contains("origin"),
        "caches keep the answers apart"
    );
    app.shutdown().await;

    // Default settings: no CORS for anyone.
    let app = TestApp::spawn(backend).await;
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/health", app.url()))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_no_cors(response.headers());
    let health = reqwest::Client::new()
        .get(format!("{}/health", app.url()))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_no_cors(health.headers());
    app.shutdown().await;
}

#[track_caller]
fn assert_no_cors(headers: &HeaderMap) {
    let cors: Vec<_> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "no CORS headers expected: {cors:?}");
}

async fn health_and_unknown_paths(backend: Backend) {
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(backend, |c| {
        c.metrics_addr = Some(([127, 0, 0, 1], metrics_port).into());
    })
    .await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/health", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.headers()["content-type"], "application/json");
    assert_eq!(health.headers()["cache-control"], "no-store");
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "status": "healthy", "version": env!("CARGO_PKG_VERSION") })
    );
    let post = client
        .post(format!("{}/health", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 405);

    // Over HTTP/2 too.
    let h2 = http::Request::get(format!("{}/health", app.url()))
        .body(tonic::body::Body::empty())
        .unwrap();
    let (status, _, body) = h2_request(&app, h2).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(body).unwrap().contains("\"healthy\""));

    let long = format!("/nope/{}", "x".repeat(300));
    let missing = client
        .get(format!("{}{long}", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(missing.headers()["content-type"], "application/json");
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("no route for GET /nope/xxx"),
        "{description}"
    );
    assert!(description.chars().count() < 130, "path cut: {description}");

    // gRPC (HTTP/2) and gRPC-Web calls to an unknown service: UNIMPLEMENTED.
    let grpc = http::Request::post(format!("{}/codelab.agent.v1.Nope/Call", app.url()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::empty())
        .unwrap();
    let (status, headers, _) = h2_request(&app, grpc).await;
    assert_eq!(
        (status, &headers["grpc-status"]),
        (200, &HeaderValue::from(12))
    );
    let web = web_call(
        &app.url(),
        "/codelab.agent.v1.Nope/Call",
        &alice(),
        frame(&()),
    )
    .await;
    assert_eq!(web.http_status, 200);
    assert_eq!(web.headers["content-type"], GRPC_WEB);
    assert_eq!(web.grpc_status(), "12");

    // `/health` is labelled in metrics; unknown paths are not.
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"method="/health",code="http_2xx""#),
        "{metrics}"
    );
    assert!(!metrics.contains("/nope"), "{metrics}");
    app.shutdown().await;
}

/// Polls `GET /health` every 100 ms for up to 5 s until it answers `status`; the last answer.
pub async fn wait_for_health(app: &TestApp, status: u16) -> (u16, serde_json::Value) {
    let mut last = (0, serde_json::Value::Null);
    for _ in 0..50 {
        let response = reqwest::get(format!("{}/health", app.url())).await.unwrap();
        last = (response.status().as_u16(), response.json().await.unwrap());
        if last.0 == status {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, status, "GET /health: {}", last.1);
    last
}
