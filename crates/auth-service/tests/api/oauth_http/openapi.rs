//! `docs/auth-service.openapi.yaml` against the running server: the same paths and methods,
//! and every answer of real requests (successes and refusals) has a documented status and
//! matches the documented schema.

use super::{base, http_client};
use crate::backend_tests;
use crate::helpers::*;
use db_core::Backend;
use serde_json::Value;
use std::collections::BTreeSet;

backend_tests!(the_openapi_document_matches_the_server);

const DOCUMENT: &str = include_str!("../../../../../docs/auth-service.openapi.yaml");

async fn the_openapi_document_matches_the_server(backend: Backend) {
    let doc: Value = serde_yaml_ng::from_str(DOCUMENT).expect("the document is YAML");
    assert_eq!(doc["openapi"], "3.1.0");
    let app = TestApp::spawn(backend).await;
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    let served: BTreeSet<&str> = auth_service::oauth_http::PATHS
        .into_iter()
        .chain(["/health"])
        .collect();
    assert_eq!(documented, served, "documented paths vs. served paths");

    let admin = app.admin().await;
    let login = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    let internal = format!("client_id=codelab-internal&client_secret={INTERNAL_SECRET}");
    // (method, path, content type, body, bearer): successes and refusals of each endpoint.
    let requests: Vec<(&str, &str, &str, String, Option<&str>)> = vec![
        (
            "POST",
            "/oauth/token",
            FORM,
            format!(
                "grant_type=password&client_id=codelab-cli&username=admin&password={ADMIN_PASSWORD}"
            ),
            None,
        ),
        (
            "POST",
            "/oauth/token",
            FORM,
            "grant_type=client_credentials&client_id=codelab-cli".into(),
            None,
        ),
        (
            "POST",
            "/oauth/token",
            FORM,
            "grant_type=client_credentials&client_id=nobody&client_secret=x".into(),
            None,
        ),
        (
            "POST",
            "/oauth/token",
            "application/json",
            "{}".into(),
            None,
        ),
        (
            "POST",
            "/oauth/token",
            FORM,
            format!("pad={}", "a".repeat(70_000)),
            None,
        ),
        (
            "POST",
            "/oauth/introspect",
            FORM,
            format!("token={}&{internal}", login.access_token),
            None,
        ),
        (
            "POST",
            "/oauth/introspect",
            FORM,
            format!("token={}", login.access_token),
            Some(&admin),
        ),
        (
            "POST",
            "/oauth/introspect",
            FORM,
            "token=unknown".into(),
            Some(&admin),
        ),
        (
            "POST",
            "/oauth/introspect",
            FORM,
            format!("token={}", login.access_token),
            None,
        ),
        ("POST", "/oauth/introspect", FORM, internal.clone(), None),
        (
            "POST",
            "/oauth/revoke",
            FORM,
            format!("token={}&client_id=codelab-cli", login.refresh_token),
            None,
        ),
        ("POST", "/oauth/revoke", FORM, "token=x".into(), None),
        (
            "GET",
            "/.well-known/oauth-authorization-server",
            "",
            String::new(),
            None,
        ),
        ("GET", "/.well-known/jwks.json", "", String::new(), None),
        ("GET", "/health", "", String::new(), None),
    ];
    let mut seen = BTreeSet::new();
    for (method, path, content_type, body, bearer) in requests {
        let mut request =
            http_client().request(method.parse().unwrap(), format!("{}{path}", base(&app)));
        if !content_type.is_empty() {
            request = request.header("content-type", content_type).body(body);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16().to_string();
        let what = format!("{method} {path} → {status}");
        let operation = &paths[path][method.to_ascii_lowercase()];
        let documented = resolve(&doc, &operation["responses"][&status]);
        assert!(documented.is_object(), "{what} is not documented");
        let media = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.bytes().await.unwrap();
        match documented["content"].as_object() {
            Some(content) => {
                let schema = &content
                    .get(&media)
                    .unwrap_or_else(|| panic!("{what}: content type {media} is not documented"))["schema"];
                let value: Value = serde_json::from_slice(&bytes).unwrap();
                if let Err(e) = conforms(&doc, schema, &value) {
                    panic!("{what}: {e}\n{value}");
                }
            }
            None => assert!(bytes.is_empty(), "{what}: undocumented body"),
        }
        seen.insert((method, path));
    }
    // Every documented operation was exercised, and other methods answer 405.
    for (path, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            assert!(
                seen.contains(&(method.as_str(), path.as_str())),
                "{method} {path} untested"
            );
        }
        for method in ["GET", "POST", "PUT", "DELETE"] {
            if item.get(method.to_ascii_lowercase()).is_none() {
                let response = http_client()
                    .request(method.parse().unwrap(), format!("{}{path}", base(&app)))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 405, "{method} {path}");
            }
        }
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

/// `value`, or what its `$ref` points at (recursively).
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(pointer) => resolve(
            doc,
            doc.pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {pointer}")),
        ),
        None => value,
    }
}

/// Whether `value` conforms to `schema`: the JSON Schema keywords the document uses (`type`,
/// `required`, `properties`, `items`, `const`, `enum`).
fn conforms(doc: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(kind) = schema["type"].as_str() {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            other => return Err(format!("schema type {other} is not checked here")),
        };
        if !ok {
            return Err(format!("{value} is not of type {kind}"));
        }
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        return Err(format!("{value} is not {expected}"));
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        return Err(format!("{value} is not one of {options:?}"));
    }
    for key in schema["required"].as_array().into_iter().flatten() {
        let key = key.as_str().unwrap();
        if value.get(key).is_none() {
            return Err(format!("required property `{key}` is missing"));
        }
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object())
    {
        for (key, item) in object {
            let property = properties
                .get(key)
                .ok_or_else(|| format!("property `{key}` is not documented"))?;
            conforms(doc, property, item).map_err(|e| format!("{key}: {e}"))?;
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for item in array {
            conforms(doc, items, item)?;
        }
    }
    Ok(())
}
