//! Authentication and authorisation at the gRPC edge.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(tokens_and_scopes_are_enforced);

async fn tokens_and_scopes_are_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let list = || pb::ListSessionsRequest::default();
    assert_status(
        app.sessions("").list_sessions(list()).await,
        Code::Unauthenticated,
        None,
    );
    assert_status(
        app.sessions("not-a-jwt").list_sessions(list()).await,
        Code::Unauthenticated,
        None,
    );
    let expired = token_with(
        serde_json::json!({ "sub": "alice", "scope": "api:read", "exp": chrono::Utc::now().timestamp() - 3600 }),
    );
    assert_status(
        app.sessions(&expired).list_sessions(list()).await,
        Code::Unauthenticated,
        None,
    );
    let wrong_aud = token_with(
        serde_json::json!({ "sub": "alice", "scope": "api:read", "aud": "someone-else" }),
    );
    assert_status(
        app.sessions(&wrong_aud).list_sessions(list()).await,
        Code::Unauthenticated,
        None,
    );
    let refresh =
        token_with(serde_json::json!({ "sub": "alice", "scope": "api:read", "type": "refresh" }));
    assert_status(
        app.sessions(&refresh).list_sessions(list()).await,
        Code::Unauthenticated,
        None,
    );

    // A signed token without `type` is not an access token.
    let untyped =
        token_with(serde_json::json!({ "sub": "alice", "scope": "api:read", "type": null }));
    let status = assert_status(
        app.sessions(&untyped).list_sessions(list()).await,
        Code::Unauthenticated,
        None,
    );
    assert!(status.message().contains("type"), "{status:?}");

    let reader = token("alice", "api:read");
    app.sessions(&reader)
        .list_sessions(list())
        .await
        .expect("api:read may list");
    let write = app
        .sessions(&reader)
        .create_session(pb::CreateSessionRequest::default())
        .await;
    assert_status(write, Code::PermissionDenied, None);
    let nothing = token("alice", "");
    assert_status(
        app.sessions(&nothing).list_sessions(list()).await,
        Code::PermissionDenied,
        None,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_auth_makes_everyone_dev() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.auth.disabled = true;
        c.auth.jwks_url = None;
    })
    .await;
    let session = create(&mut app.sessions(""), "dev-session").await;
    assert_eq!(session.owner, "dev");
}
