//! AgentContextService: switches, optimistic checks, history paging, old-client snapshots.

use crate::backend_tests;
use crate::flows::*;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(
    agent_switches_and_history,
    agent_context_snapshots,
    list_agent_switches_refuses_bad_paging,
);

fn switch(to: &str, expected: Option<&str>) -> pb::SwitchAgentRequest {
    pb::SwitchAgentRequest {
        session_id: "s".into(),
        to_agent: to.into(),
        reason: format!("hand over to {to}"),
        metadata_json: r#"{"confidence":0.9}"#.into(),
        expected_current_agent: expected.map(str::to_owned),
    }
}

async fn agent_switches_and_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let mut a = app.agents(&alice());
    create(&mut s, "s").await;
    assert_status(agent_context(&mut a, "s").await, Code::NotFound, None);

    let first = a
        .switch_agent(switch("orchestrator", Some("")))
        .await
        .unwrap()
        .into_inner();
    let sw = first.r#switch.unwrap();
    assert_eq!(
        (sw.from_agent.as_str(), sw.to_agent.as_str()),
        ("", "orchestrator")
    );
    assert_eq!(first.context.unwrap().switch_count, 1);

    let second = a
        .switch_agent(switch("coder", Some("orchestrator")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.r#switch.unwrap().from_agent, "orchestrator");
    let stale = a.switch_agent(switch("debug", Some("orchestrator"))).await;
    assert_status(stale, Code::FailedPrecondition, None);
    a.switch_agent(switch("debug", None)).await.unwrap();
    a.switch_agent(switch("ask", None)).await.unwrap();

    let ctx = agent_context(&mut a, "s").await.unwrap().into_inner();
    assert_eq!((ctx.current_agent.as_str(), ctx.switch_count), ("ask", 4));

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = a
            .list_agent_switches(pb::ListAgentSwitchesRequest {
                session_id: "s".into(),
                page_size: 3,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.switches.into_iter().map(|x| x.to_agent));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        vec!["ask", "debug", "coder", "orchestrator"],
        "newest first"
    );

    for bad in ["Coder", "", "a b", &"x".repeat(65)] {
        assert_status(
            a.switch_agent(switch(bad, None)).await,
            Code::InvalidArgument,
            Some("to_agent"),
        );
    }
    let mut bad_meta = switch("coder", None);
    bad_meta.metadata_json = "nope".into();
    assert_status(
        a.switch_agent(bad_meta).await,
        Code::InvalidArgument,
        Some("metadata_json"),
    );
    // Other users cannot see or change it.
    let mut b = app.agents(&bob());
    assert_status(
        b.switch_agent(switch("coder", None)).await,
        Code::NotFound,
        None,
    );
    assert_status(agent_context(&mut b, "s").await, Code::NotFound, None);
}

async fn agent_context_snapshots(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let mut a = app.agents(&alice());
    create(&mut s, "s").await;
    let ts = |secs| {
        Some(prost_types::Timestamp {
            seconds: secs,
            nanos: 0,
        })
    };
    let history = vec![
        pb::AgentHistoryEntry {
            from_agent: String::new(),
            to_agent: "orchestrator".into(),
            reason: "start".into(),
            timestamp: ts(1_700_000_000),
            metadata_json: String::new(),
        },
        pb::AgentHistoryEntry {
            from_agent: "orchestrator".into(),
            to_agent: "architect".into(),
            reason: "design".into(),
            timestamp: ts(1_700_000_060),
            metadata_json: r#"{"k":1}"#.into(),
        },
    ];
    let saved = a
        .save_agent_context(pb::SaveAgentContextRequest {
            session_id: "s".into(),
            current_agent: "architect".into(),
            agent_history: history.clone(),
            metadata_json: r#"{"mode":"multi"}"#.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (saved.current_agent.as_str(), saved.switch_count),
        ("architect", 2)
    );
    let loaded = load_context(&mut a, "s").await.unwrap().into_inner();
    assert_eq!(loaded.agent_history.len(), 2);
    assert_eq!(loaded.agent_history[1].from_agent, "orchestrator");
    assert_eq!(loaded.agent_history[1].timestamp, ts(1_700_000_060));
    let meta: serde_json::Value = serde_json::from_str(&loaded.metadata_json).unwrap();
    assert_eq!(meta["mode"], "multi");

    // A second snapshot replaces the history.
    a.save_agent_context(pb::SaveAgentContextRequest {
        session_id: "s".into(),
        current_agent: "coder".into(),
        agent_history: history[..1].to_vec(),
        metadata_json: String::new(),
    })
    .await
    .unwrap();
    let loaded = load_context(&mut a, "s").await.unwrap().into_inner();
    assert_eq!(
        (
            loaded.current_agent.as_str(),
            loaded.agent_history.len(),
            loaded.switch_count
        ),
        ("coder", 1, 1)
    );

    let mut bad = history;
    bad[1].to_agent = "Architect!".into();
    assert_status(
        a.save_agent_context(pb::SaveAgentContextRequest {
            session_id: "s".into(),
            current_agent: "coder".into(),
            agent_history: bad,
            metadata_json: String::new(),
        })
        .await,
        Code::InvalidArgument,
        Some("agent_history[1].to_agent"),
    );
}

/// ListAgentSwitches: a negative page_size, a tampered token, a token of another session and
/// one of another list are INVALID_ARGUMENT naming the field (AIP-158).
async fn list_agent_switches_refuses_bad_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let mut a = app.agents(&alice());
    for id in ["s", "t"] {
        create(&mut s, id).await;
        for to in ["orchestrator", "coder", "debug"] {
            a.switch_agent(pb::SwitchAgentRequest {
                session_id: id.into(),
                ..switch(to, None)
            })
            .await
            .unwrap();
        }
    }
    let list = |session: &str, page_size: i32, page_token: String| pb::ListAgentSwitchesRequest {
        session_id: session.into(),
        page_size,
        page_token,
    };
    assert_status(
        a.list_agent_switches(list("s", -1, String::new())).await,
        Code::InvalidArgument,
        Some("page_size"),
    );
    let first = a
        .list_agent_switches(list("s", 1, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    // The genuine token works; the same token with one bit changed does not.
    let second = a
        .list_agent_switches(list("s", 1, first.next_page_token.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.switches[0].to_agent, "coder");
    assert_status(
        a.list_agent_switches(list("s", 1, tampered(&first.next_page_token)))
            .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    // A token of session `s` on session `t`, and a ListPendingApprovals token.
    assert_status(
        a.list_agent_switches(list("t", 1, first.next_page_token.clone()))
            .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    let mut approvals = app.approvals(&alice());
    for call in ["c1", "c2"] {
        approvals
            .create_pending_approval(pb::CreatePendingApprovalRequest {
                session_id: "s".into(),
                call_id: call.into(),
                tool_name: "execute_command".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let approval_token = page_token_after_first!(
        approvals.list_pending_approvals(ListPendingApprovalsRequest),
        "s"
    );
    assert!(!approval_token.is_empty());
    assert_status(
        a.list_agent_switches(list("s", 1, approval_token)).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    assert_status(
        a.list_agent_switches(list("s", 1, "garbage".into())).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
}
