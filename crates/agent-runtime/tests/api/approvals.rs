//! ApprovalService: human-in-the-loop tool approvals.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(approvals_lifecycle);

fn request(call: &str) -> pb::CreatePendingApprovalRequest {
    pb::CreatePendingApprovalRequest {
        session_id: "s".into(),
        call_id: call.into(),
        tool_name: "execute_command".into(),
        arguments_json: r#"{"command":"rm -rf build"}"#.into(),
        reason: "destructive command".into(),
    }
}

async fn approvals_lifecycle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(&mut app.sessions(&alice()), "s").await;
    let mut a = app.approvals(&alice());
    let first = a
        .create_pending_approval(request("call_1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.status, pb::ApprovalStatus::Pending as i32);
    assert_status(
        a.create_pending_approval(request("call_1")).await,
        Code::AlreadyExists,
        None,
    );
    let second = a
        .create_pending_approval(request("call_2"))
        .await
        .unwrap()
        .into_inner();
    a.create_pending_approval(request("call_3")).await.unwrap();

    let mut bad = request("call_4");
    bad.arguments_json = "{".into();
    assert_status(
        a.create_pending_approval(bad).await,
        Code::InvalidArgument,
        Some("arguments_json"),
    );
    let mut bad = request("");
    bad.tool_name = "x".into();
    assert_status(
        a.create_pending_approval(bad).await,
        Code::InvalidArgument,
        Some("call_id"),
    );

    let resolved = a
        .resolve_approval(pb::ResolveApprovalRequest {
            approval_id: first.approval_id.clone(),
            decision: pb::ApprovalStatus::Approved as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (resolved.status, resolved.resolved_by.as_str()),
        (pb::ApprovalStatus::Approved as i32, "alice")
    );
    assert!(resolved.resolved_at.is_some());
    let twice = a
        .resolve_approval(pb::ResolveApprovalRequest {
            approval_id: first.approval_id.clone(),
            decision: pb::ApprovalStatus::Rejected as i32,
        })
        .await;
    assert_status(twice, Code::FailedPrecondition, None);
    let undecided = a
        .resolve_approval(pb::ResolveApprovalRequest {
            approval_id: second.approval_id.clone(),
            decision: pb::ApprovalStatus::Pending as i32,
        })
        .await;
    assert_status(undecided, Code::InvalidArgument, Some("decision"));
    // Bob cannot resolve Alice's approvals, nor learn they exist.
    let bobs = app
        .approvals(&bob())
        .resolve_approval(pb::ResolveApprovalRequest {
            approval_id: second.approval_id.clone(),
            decision: pb::ApprovalStatus::Approved as i32,
        })
        .await;
    assert_status(bobs, Code::NotFound, None);

    let pending = a
        .list_pending_approvals(pb::ListPendingApprovalsRequest {
            session_id: "s".into(),
            status: pb::ApprovalStatus::Pending as i32,
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending.approvals.len(), 1);
    assert_eq!(pending.approvals[0].call_id, "call_2");
    let rest = a
        .list_pending_approvals(pb::ListPendingApprovalsRequest {
            session_id: "s".into(),
            status: pb::ApprovalStatus::Pending as i32,
            page_size: 1,
            page_token: pending.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.approvals[0].call_id, "call_3");
    let all = a
        .list_pending_approvals(pb::ListPendingApprovalsRequest {
            session_id: "s".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.approvals.len(), 3);
}
