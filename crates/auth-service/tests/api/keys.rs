//! Signing keys: JWK Set over gRPC and HTTP, rotation, keys shared by replicas.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(
    jwks_over_grpc_and_http_agree,
    rotation_keeps_old_tokens_valid,
    replicas_and_restarts_share_the_keys,
    a_replica_learns_another_replicas_rotation_at_once,
);

fn kids(keys_json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(keys_json).unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(k["kty"], "RSA");
            assert_eq!(k["alg"], "RS256");
            assert_eq!(k["use"], "sig");
            assert!(k.get("d").is_none(), "no private part is ever published");
            k["kid"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn jwks(app: &TestApp) -> String {
    app.auth("")
        .get_jwks(pb::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys_json
}

async fn jwks_over_grpc_and_http_agree(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let grpc = jwks(&app).await;
    assert_eq!(kids(&grpc).len(), 1);
    let response = reqwest::get(format!("http://{}/.well-known/jwks.json", app.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=300"
    );
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/jwk-set+json"
    );
    assert_eq!(response.text().await.unwrap(), grpc);
    // The published key verifies a token this service signed (RFC 7517 n/e).
    let token = app.admin().await;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&grpc).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&set.keys[0]).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["codelab-api"]);
    validation.set_issuer(&["https://auth.codelab.local"]);
    jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).expect("verifies");
}

async fn rotation_keeps_old_tokens_valid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old_token = app.admin().await;
    let old_kid = jsonwebtoken::decode_header(&old_token)
        .unwrap()
        .kid
        .unwrap();
    app.create_user("sam01", "sam-password").await;
    let sam = app
        .login("sam01", "sam-password")
        .await
        .unwrap()
        .access_token;
    let denied = app
        .auth(&sam)
        .rotate_signing_key(pb::RotateSigningKeyRequest {})
        .await;
    expect_err(denied, Code::PermissionDenied, "MISSING_SCOPE");
    let rotated = app
        .auth(&old_token)
        .rotate_signing_key(pb::RotateSigningKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.kid, old_kid);
    assert_eq!(
        rotated.published_kids,
        [rotated.kid.clone(), old_kid.clone()]
    );
    assert_eq!(kids(&jwks(&app).await), rotated.published_kids);
    let new_token = app.admin().await;
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)
            .unwrap()
            .kid
            .unwrap(),
        rotated.kid
    );
    for token in [&old_token, &new_token] {
        app.users(token)
            .get_current_user(pb::GetCurrentUserRequest {})
            .await
            .expect("tokens of both keys are accepted");
    }
    assert_eq!(app.audit("signing_key_rotated").await.len(), 1);
}

async fn replicas_and_restarts_share_the_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = jwks(&app).await;
    // A second replica on the same database publishes the same keys and accepts the first's
    // tokens.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let replica = tokio::spawn(auth_service::serve(
        test_config(&app.db),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let channel = connect(addr).await;
    let mut replica_auth = pb::auth_service_client::AuthServiceClient::new(channel.clone());
    let replica_jwks = replica_auth
        .get_jwks(pb::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys_json;
    assert_eq!(replica_jwks, first);
    let token = app.admin().await;
    let mut users = pb::user_service_client::UserServiceClient::new(channel);
    let mut req = tonic::Request::new(pb::GetCurrentUserRequest {});
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    users
        .get_current_user(req)
        .await
        .expect("replica accepts the token");
    let _ = stop.send(());
    replica.await.unwrap().unwrap();
    // Seeding is idempotent: still one admin, one of each client.
    let admin = app.admin().await;
    let list = app
        .clients(&admin)
        .list_clients(pb::ListClientsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total_size, 3);
    let users = app
        .users(&admin)
        .list_users(pb::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(users.total_size, 1);
    app.shutdown().await;
}

/// Replica B reloads keys only every hour here; A rotates. B must still accept A's new tokens
/// (reload on an unknown `kid`) and publish A's new key (a JWK Set request reloads), without
/// waiting for its period.
async fn a_replica_learns_another_replicas_rotation_at_once(backend: Backend) {
    let a = TestApp::spawn_with(backend, |c| c.key_refresh_secs = 3600).await;
    let b = a.replica(|c| c.key_refresh_secs = 3600).await;
    // B's keys were read at its start; on-demand reloads are at most one a second.
    tokio::time::sleep(auth_service::keys::ON_DEMAND_RELOAD_INTERVAL).await;
    let admin = a.admin().await;
    let rotated = a
        .auth(&admin)
        .rotate_signing_key(pb::RotateSigningKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    let fresh = a.admin().await;
    assert_eq!(
        jsonwebtoken::decode_header(&fresh).unwrap().kid.unwrap(),
        rotated.kid
    );

    // B verifies a token of the new key: as the caller and as the introspected token.
    let seen = b
        .auth(&fresh)
        .introspect_token(pb::IntrospectTokenRequest {
            token: fresh.clone(),
            ..Default::default()
        })
        .await
        .expect("B accepts a token signed with A's new key")
        .into_inner();
    assert!(seen.active);
    assert_eq!(seen.username, "admin");
    // B's JWK Set, over gRPC and HTTP, now has the new key.
    assert!(kids(&jwks(&b).await).contains(&rotated.kid));
    let http = reqwest::get(format!("http://{}/.well-known/jwks.json", b.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(kids(&http).contains(&rotated.kid));

    // A kid nobody published is still refused (and costs at most one reload a second).
    let mut parts: Vec<String> = fresh.split('.').map(str::to_owned).collect();
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut header: serde_json::Value =
        serde_json::from_slice(&engine.decode(&parts[0]).unwrap()).unwrap();
    header["kid"] = "no-such-key".into();
    parts[0] = engine.encode(header.to_string());
    let forged = parts.join(".");
    for _ in 0..3 {
        expect_err(
            b.users(&forged)
                .get_current_user(pb::GetCurrentUserRequest {})
                .await,
            Code::Unauthenticated,
            "UNKNOWN_KEY",
        );
    }
    b.shutdown().await;
    a.shutdown().await;
}
