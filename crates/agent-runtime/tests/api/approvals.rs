//! ApprovalService: human-in-the-loop tool approvals.

use crate::backend_tests;
use crate::flows::*;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(
    approvals_lifecycle,
    list_pending_approvals_refuses_bad_paging,
    the_requester_cannot_resolve_its_own_approval
);

/// Alice as a person: her token carries `api:approve`, which her agent's does not.
fn alice_approver() -> String {
    token("alice", "api:read api:write api:approve")
}

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

    let mut person = app.approvals(&alice_approver());
    let resolved = person
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
    let twice = person
        .resolve_approval(pb::ResolveApprovalRequest {
            approval_id: first.approval_id.clone(),
            decision: pb::ApprovalStatus::Rejected as i32,
        })
        .await;
    assert_status(twice, Code::FailedPrecondition, None);
    let undecided = person
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
    let all = all_approvals(&mut a, "s").await;
    assert_eq!(all.approvals.len(), 3);
}

/// ListPendingApprovals: a negative page_size, a tampered token, a token of another session,
/// of another status filter and of another list are INVALID_ARGUMENT naming the field.
async fn list_pending_approvals_refuses_bad_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let mut a = app.approvals(&alice());
    for id in ["s", "t"] {
        create(&mut s, id).await;
        for call in ["call_1", "call_2", "call_3"] {
            a.create_pending_approval(pb::CreatePendingApprovalRequest {
                session_id: id.into(),
                ..request(call)
            })
            .await
            .unwrap();
        }
    }
    let list = |session: &str, status: pb::ApprovalStatus, page_size: i32, page_token: String| {
        pb::ListPendingApprovalsRequest {
            session_id: session.into(),
            status: status as i32,
            page_size,
            page_token,
        }
    };
    use pb::ApprovalStatus::{Pending, Unspecified};
    assert_status(
        a.list_pending_approvals(list("s", Unspecified, -1, String::new()))
            .await,
        Code::InvalidArgument,
        Some("page_size"),
    );
    let first = a
        .list_pending_approvals(list("s", Pending, 1, String::new()))
        .await
        .unwrap()
        .into_inner();
    let token = first.next_page_token;
    assert!(!token.is_empty());
    let second = a
        .list_pending_approvals(list("s", Pending, 1, token.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.approvals[0].call_id, "call_2");
    for (session, status, bad) in [
        ("s", Pending, tampered(&token)),
        ("t", Pending, token.clone()),
        ("s", Unspecified, token.clone()),
        ("s", Pending, "garbage".to_owned()),
    ] {
        assert_status(
            a.list_pending_approvals(list(session, status, 1, bad))
                .await,
            Code::InvalidArgument,
            Some("page_token"),
        );
    }
    // A ListMessages token is not an approvals token.
    append(&mut s, "s", vec![user("a"), user("b")]).await;
    let messages_token = page_token_after_first!(s.list_messages(ListMessagesRequest), "s");
    assert_status(
        a.list_pending_approvals(list("s", Unspecified, 1, messages_token))
            .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
}

/// Separation of duties: the principal (`sub`) that requested an approval cannot resolve it
/// with its own token (the agent's: `api:write`, no `api:approve`); another principal who sees
/// the session can, and so can the same person with `api:approve`. A refused decision changes
/// nothing.
async fn the_requester_cannot_resolve_its_own_approval(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(&mut app.sessions(&alice()), "s").await;
    let mut agent = app.approvals(&alice());
    let mut ids = Vec::new();
    for call in ["call_1", "call_2", "call_3"] {
        let created = agent
            .create_pending_approval(request(call))
            .await
            .unwrap()
            .into_inner();
        ids.push(created.approval_id);
    }
    let decide = |id: &str| pb::ResolveApprovalRequest {
        approval_id: id.into(),
        decision: pb::ApprovalStatus::Approved as i32,
    };
    for decision in [pb::ApprovalStatus::Approved, pb::ApprovalStatus::Rejected] {
        let own = agent
            .resolve_approval(pb::ResolveApprovalRequest {
                decision: decision as i32,
                ..decide(&ids[0])
            })
            .await;
        let status = assert_status(own, Code::PermissionDenied, None);
        assert_eq!(
            tonic_types::StatusExt::get_error_details(&status)
                .error_info()
                .unwrap()
                .reason,
            "SELF_APPROVAL"
        );
    }
    let still = agent
        .list_pending_approvals(pb::ListPendingApprovalsRequest {
            session_id: "s".into(),
            status: pb::ApprovalStatus::Pending as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        still.approvals.len(),
        3,
        "a refused decision changes nothing"
    );

    // The same person with api:approve.
    let resolved = app
        .approvals(&alice_approver())
        .resolve_approval(decide(&ids[0]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.resolved_by, "alice");
    // Another principal who sees the session (an administrator).
    let resolved = app
        .approvals(&admin())
        .resolve_approval(decide(&ids[1]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.resolved_by, "root");
    // An approval an administrator requested in Alice's session: Alice's own token decides it.
    let by_admin = app
        .approvals(&admin())
        .create_pending_approval(request("call_9"))
        .await
        .unwrap()
        .into_inner();
    let resolved = agent
        .resolve_approval(decide(&by_admin.approval_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.resolved_by, "alice");
}
