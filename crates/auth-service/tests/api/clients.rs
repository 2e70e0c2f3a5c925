//! ClientService.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(client_lifecycle, clients_need_admin_and_valid_fields);

fn cc(client_id: &str, secret: &str) -> pb::TokenRequest {
    pb::TokenRequest {
        grant_type: "client_credentials".into(),
        client_id: client_id.into(),
        client_secret: secret.into(),
        ..Default::default()
    }
}

async fn client_lifecycle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let mut clients = app.clients(&admin);
    let created = clients
        .create_client(pb::CreateClientRequest {
            client_id: "ci-runner".into(),
            name: "CI runner".into(),
            is_confidential: true,
            allowed_scopes: "api:read".into(),
            access_token_lifetime_secs: 120,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let client = created.client.unwrap();
    assert!(client.is_confidential);
    assert_eq!(
        client.allowed_grant_types,
        ["password", "refresh_token", "client_credentials"]
    );
    assert_eq!(created.client_secret.len(), 43);
    let t = app
        .auth("")
        .token(cc("ci-runner", &created.client_secret))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((t.scope.as_str(), t.expires_in), ("api:read", 120));
    let got = clients
        .get_client(pb::GetClientRequest {
            client_id: "ci-runner".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, client);
    let rotated = clients
        .update_client(pb::UpdateClientRequest {
            client_id: "ci-runner".into(),
            rotate_secret: true,
            allowed_scopes: Some("api:read api:write".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.client_secret, created.client_secret);
    assert_eq!(rotated.client.unwrap().allowed_scopes, "api:read api:write");
    expect_err(
        app.auth("")
            .token(cc("ci-runner", &created.client_secret))
            .await,
        Code::Unauthenticated,
        "INVALID_CLIENT",
    );
    app.auth("")
        .token(cc("ci-runner", &rotated.client_secret))
        .await
        .expect("new secret works");
    let list = clients
        .list_clients(pb::ListClientsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total_size, 4);
    clients
        .update_client(pb::UpdateClientRequest {
            client_id: "ci-runner".into(),
            is_active: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    expect_err(
        app.auth("")
            .token(cc("ci-runner", &rotated.client_secret))
            .await,
        Code::Unauthenticated,
        "INVALID_CLIENT",
    );
    clients
        .delete_client(pb::DeleteClientRequest {
            client_id: "ci-runner".into(),
        })
        .await
        .unwrap();
    expect_err(
        clients
            .get_client(pb::GetClientRequest {
                client_id: "ci-runner".into(),
            })
            .await,
        Code::NotFound,
        "CLIENT_NOT_FOUND",
    );
    assert_eq!(app.audit("client_created").await.len(), 4);
    assert_eq!(app.audit("client_deleted").await.len(), 1);
}

async fn clients_need_admin_and_valid_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("rita1", "rita-password").await;
    let rita = app
        .login("rita1", "rita-password")
        .await
        .unwrap()
        .access_token;
    let denied = app
        .clients(&rita)
        .list_clients(pb::ListClientsRequest::default())
        .await;
    expect_err(denied, Code::PermissionDenied, "MISSING_SCOPE");
    let admin = app.admin().await;
    let mut clients = app.clients(&admin);
    let public_cc = clients
        .create_client(pb::CreateClientRequest {
            client_id: "spa-app".into(),
            name: "SPA".into(),
            allowed_grant_types: vec!["client_credentials".into()],
            ..Default::default()
        })
        .await;
    expect_err(public_cc, Code::InvalidArgument, "INVALID_ARGUMENT");
    let dup = clients
        .create_client(pb::CreateClientRequest {
            client_id: "codelab-cli".into(),
            name: "dup".into(),
            ..Default::default()
        })
        .await;
    expect_err(dup, Code::AlreadyExists, "CLIENT_ALREADY_EXISTS");
    let no_name = clients
        .create_client(pb::CreateClientRequest {
            client_id: "nameless".into(),
            ..Default::default()
        })
        .await;
    expect_err(no_name, Code::InvalidArgument, "INVALID_ARGUMENT");
    let short = clients
        .create_client(pb::CreateClientRequest {
            client_id: "short-lived".into(),
            name: "x".into(),
            access_token_lifetime_secs: 5,
            ..Default::default()
        })
        .await;
    expect_err(short, Code::InvalidArgument, "INVALID_ARGUMENT");
    let bad_scope = clients
        .create_client(pb::CreateClientRequest {
            client_id: "bad-scope".into(),
            name: "x".into(),
            allowed_scopes: "api:read api:everything".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_scope.code(), Code::InvalidArgument);
    assert!(
        bad_scope.message().contains("`api:everything`")
            && bad_scope
                .message()
                .contains("api:read api:write api:admin api:approve"),
        "the error names the bad scope and every known one: {}",
        bad_scope.message()
    );
    let public_rotate = clients
        .update_client(pb::UpdateClientRequest {
            client_id: "codelab-flutter-app".into(),
            rotate_secret: true,
            ..Default::default()
        })
        .await;
    expect_err(public_rotate, Code::FailedPrecondition, "PUBLIC_CLIENT");
    let list = clients
        .list_clients(pb::ListClientsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        list.total_size, 3,
        "nothing was written by the refused calls"
    );
}
