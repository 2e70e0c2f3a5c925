//! One tenant cannot fail another: NUL refused at the edge on every RPC that stores text, and a
//! group-committed append batch that hits a database error fails only the call that caused it.

use crate::backend_tests;
use crate::flows::*;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(
    nul_is_refused_in_every_stored_text_field,
    a_failing_append_fails_alone_in_its_batch
);

/// A tool call with one field poisoned.
fn call(id: &str, kind: &str, name: &str, arguments: &str) -> pb::ToolCall {
    pb::ToolCall {
        id: id.into(),
        r#type: kind.into(),
        name: name.into(),
        arguments_json: arguments.into(),
    }
}

/// Every text field a client can store, holding U+0000 (or `\u0000` in JSON), is refused with
/// INVALID_ARGUMENT naming it, the same on both backends, and nothing is written.
async fn nul_is_refused_in_every_stored_text_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let mut a = app.agents(&alice());
    let mut p = app.approvals(&alice());
    create(&mut s, "s").await;
    append(&mut s, "s", vec![user("one"), assistant("two")]).await;

    // CreateSession.
    for (field, request) in [
        (
            "title",
            pb::CreateSessionRequest {
                title: "a\0b".into(),
                ..Default::default()
            },
        ),
        (
            "description",
            pb::CreateSessionRequest {
                description: "\0".into(),
                ..Default::default()
            },
        ),
        (
            "metadata_json",
            pb::CreateSessionRequest {
                metadata_json: r#"{"k":"v\u0000"}"#.into(),
                ..Default::default()
            },
        ),
    ] {
        let request = pb::CreateSessionRequest {
            session_id: "poisoned".into(),
            ..request
        };
        assert_status(
            s.create_session(request).await,
            Code::InvalidArgument,
            Some(field),
        );
    }

    // AppendMessages and SaveSession: every field of a message, at its index.
    let poisoned: Vec<(&str, pb::Message)> = vec![
        ("content", user("x\0y")),
        (
            "name",
            pb::Message {
                name: "n\0".into(),
                ..user("x")
            },
        ),
        (
            "tool_call_id",
            pb::Message {
                role: pb::Role::Tool as i32,
                tool_call_id: "c\0".into(),
                ..user("x")
            },
        ),
        (
            "metadata_json",
            pb::Message {
                metadata_json: r#"{"\u0000":true}"#.into(),
                ..user("x")
            },
        ),
        (
            "tool_calls[0].id",
            pb::Message {
                tool_calls: vec![call("c\0", "", "f", "{}")],
                ..assistant("x")
            },
        ),
        (
            "tool_calls[0].type",
            pb::Message {
                tool_calls: vec![call("c", "function\0", "f", "{}")],
                ..assistant("x")
            },
        ),
        (
            "tool_calls[0].name",
            pb::Message {
                tool_calls: vec![call("c", "", "f\0", "{}")],
                ..assistant("x")
            },
        ),
        (
            "tool_calls[0].arguments_json",
            pb::Message {
                tool_calls: vec![call("c", "", "f", r#"{"path":"a\u0000b"}"#)],
                ..assistant("x")
            },
        ),
    ];
    for (leaf, message) in poisoned {
        let field = format!("messages[1].{leaf}");
        let appended = s
            .append_messages(pb::AppendMessagesRequest {
                session_id: "s".into(),
                messages: vec![user("fine"), message.clone()],
                create_if_missing: false,
            })
            .await;
        assert_status(appended, Code::InvalidArgument, Some(&field));
        let saved = s
            .save_session(pb::SaveSessionRequest {
                session_id: "s".into(),
                messages: vec![user("fine"), message],
                last_activity: None,
            })
            .await;
        assert_status(saved, Code::InvalidArgument, Some(&field));
    }

    // SwitchAgent and SaveAgentContext.
    let switch = |reason: &str, metadata: &str| pb::SwitchAgentRequest {
        session_id: "s".into(),
        to_agent: "coder".into(),
        reason: reason.into(),
        metadata_json: metadata.into(),
        expected_current_agent: None,
    };
    assert_status(
        a.switch_agent(switch("why\0", "")).await,
        Code::InvalidArgument,
        Some("reason"),
    );
    assert_status(
        a.switch_agent(switch("why", r#"{"k":["\u0000"]}"#)).await,
        Code::InvalidArgument,
        Some("metadata_json"),
    );
    let entry = |reason: &str, metadata: &str| pb::AgentHistoryEntry {
        to_agent: "coder".into(),
        reason: reason.into(),
        metadata_json: metadata.into(),
        ..Default::default()
    };
    for (field, history, metadata) in [
        ("agent_history[0].reason", entry("\0", ""), ""),
        (
            "agent_history[0].metadata_json",
            entry("", r#"{"k":"\u0000"}"#),
            "",
        ),
        ("metadata_json", entry("", ""), r#"{"\u0000":1}"#),
    ] {
        let saved = a
            .save_agent_context(pb::SaveAgentContextRequest {
                session_id: "s".into(),
                current_agent: "coder".into(),
                agent_history: vec![history],
                metadata_json: metadata.into(),
            })
            .await;
        assert_status(saved, Code::InvalidArgument, Some(field));
    }

    // CreatePendingApproval.
    let approval = |call_id: &str, tool: &str, arguments: &str, reason: &str| {
        pb::CreatePendingApprovalRequest {
            session_id: "s".into(),
            call_id: call_id.into(),
            tool_name: tool.into(),
            arguments_json: arguments.into(),
            reason: reason.into(),
        }
    };
    for (field, request) in [
        ("call_id", approval("c\0", "t", "{}", "r")),
        ("tool_name", approval("c", "t\0", "{}", "r")),
        ("arguments_json", approval("c", "t", r#""\u0000""#, "r")),
        ("reason", approval("c", "t", "{}", "r\0")),
    ] {
        assert_status(
            p.create_pending_approval(request).await,
            Code::InvalidArgument,
            Some(field),
        );
    }

    // Nothing was written: the session is as it was, no other session, context or approval.
    assert_eq!(walk(&mut s, "s", 10).await.len(), 2);
    let listed = s
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size, 1);
    assert_status(agent_context(&mut a, "s").await, Code::NotFound, None);
    let approvals = all_approvals(&mut p, "s").await;
    assert!(approvals.approvals.is_empty());
    // An escaped backslash before `u0000` is text, and is stored.
    append(
        &mut s,
        "s",
        vec![pb::Message {
            metadata_json: r#"{"k":"\\u0000"}"#.into(),
            ..user("kept")
        }],
    )
    .await;
}

/// Content the test database refuses: a trigger the test creates raises on it, the way any
/// statement error (a value or constraint the database refuses) would.
const POISON: &str = "refused by the database";

async fn refuse_poison(app: &TestApp, backend: Backend) {
    let sql = match backend {
        Backend::Postgres => format!(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.content = '{POISON}' THEN RAISE EXCEPTION 'poison'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER refuse_poison BEFORE INSERT ON messages \
             FOR EACH ROW EXECUTE FUNCTION refuse_poison();"
        ),
        Backend::Sqlite => format!(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages \
             WHEN NEW.content = '{POISON}' BEGIN SELECT RAISE(ABORT, 'poison'); END;"
        ),
    };
    let mut conn = direct_connection(app).await;
    db_core::with_connection!(conn, |c| {
        use diesel_async::SimpleAsyncConnection;
        c.batch_execute(&sql).await.unwrap()
    });
}

/// Many concurrent appenders of two users, coalesced into shared transactions by group commit;
/// some of Mallory's calls fail inside the database. Every one of Alice's calls, and every
/// one of Mallory's other calls, succeeds; only the poisoned calls fail, and nothing of them is
/// stored. Odd rounds send only calls of 20 messages, which on PostgreSQL take the second,
/// sequential transaction of a batch (more than one statement's worth of messages).
async fn a_failing_append_fails_alone_in_its_batch(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mallory = token("mallory", "api:read api:write");
    const ROUNDS: usize = 8;
    const PER_USER: usize = 16;
    let mut expected = std::collections::BTreeMap::new();
    for i in 0..PER_USER {
        for (owner, token) in [("alice", alice()), ("mallory", mallory.clone())] {
            let id = format!("{owner}-{i}");
            create(&mut app.sessions(&token), &id).await;
            expected.insert(id, 0usize);
        }
    }
    refuse_poison(&app, backend).await;

    let mut refused = 0;
    for round in 0..ROUNDS {
        let long = |i: usize| round % 2 == 1 || i.is_multiple_of(4);
        let batch = |n: usize, tag: &str| -> Vec<pb::Message> {
            (0..n)
                .map(|k| user(&format!("{tag} {round}-{k}")))
                .collect()
        };
        let mut calls = Vec::new();
        for i in 0..PER_USER {
            let alices = batch(if long(i) { 20 } else { 1 }, "alice");
            calls.push((format!("alice-{i}"), alice(), alices));
            // Mallory: a third of the calls poisoned, as their last message.
            let mut mallorys = batch(if long(i) { 20 } else { 1 }, "mallory");
            if i % 3 == round % 3 {
                *mallorys.last_mut().unwrap() = user(POISON);
            }
            calls.push((format!("mallory-{i}"), mallory.clone(), mallorys));
        }
        let outcomes = futures::future::join_all(calls.into_iter().map(|(id, token, messages)| {
            let mut s = app.sessions(&token);
            let poisoned = messages
                .iter()
                .any(|m| m.content.as_deref() == Some(POISON));
            let n = messages.len();
            async move {
                let outcome = s
                    .append_messages(pb::AppendMessagesRequest {
                        session_id: id.clone(),
                        messages,
                        create_if_missing: false,
                    })
                    .await;
                (poisoned, id, n, outcome)
            }
        }))
        .await;
        for (poisoned, id, n, outcome) in outcomes {
            match (poisoned, outcome) {
                (false, Ok(_)) => *expected.get_mut(&id).unwrap() += n,
                (false, Err(status)) => panic!("{id} failed with another's error: {status:?}"),
                (true, Ok(_)) => panic!("{id}: the poisoned append was stored"),
                (true, Err(status)) => {
                    assert_eq!(status.code(), Code::Internal, "{status:?}");
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 0);

    // Every session holds exactly its successful appends, with no gap.
    let mut s = app.sessions(&admin());
    for (id, count) in expected {
        let stored = walk(&mut s, &id, 1000).await;
        assert_eq!(stored.len(), count, "{id}");
        assert!(stored.iter().all(|m| m.content.as_deref() != Some(POISON)));
        assert!(stored.iter().zip(1..).all(|(m, seq)| m.seq == seq));
    }
}
