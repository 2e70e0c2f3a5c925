//! One tenant cannot fail another: NUL refused at the edge on every RPC that stores text, and a
//! group-committed append batch that hits a database error fails only the call that caused it.

use crate::backend_tests;
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
    assert_status(
        a.get_agent_context(pb::GetAgentContextRequest {
            session_id: "s".into(),
        })
        .await,
        Code::NotFound,
        None,
    );
    let approvals = p
        .list_pending_approvals(pb::ListPendingApprovalsRequest {
            session_id: "s".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
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
/// stored.
async fn a_failing_append_fails_alone_in_its_batch(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mallory = token("mallory", "api:read api:write");
    const ROUNDS: usize = 6;
    const PER_USER: usize = 16;
    for i in 0..PER_USER {
        create(&mut app.sessions(&alice()), &format!("alice-{i}")).await;
        create(&mut app.sessions(&mallory), &format!("mallory-{i}")).await;
    }
    refuse_poison(&app, backend).await;

    let mut refused = 0;
    for round in 0..ROUNDS {
        let mut calls = Vec::new();
        for i in 0..PER_USER {
            // Alice: several one-message calls and, for the sequential path, a longer one.
            let messages = if i % 4 == 0 {
                (0..20).map(|k| user(&format!("a{round}-{k}"))).collect()
            } else {
                vec![user(&format!("alice {round}"))]
            };
            calls.push((true, format!("alice-{i}"), alice(), messages));
            // Mallory: a third of the calls poisoned, some as the last of 20 messages (on
            // PostgreSQL those take the second, sequential transaction).
            let messages = match (i % 3 == round % 3, i % 2 == 0) {
                (false, _) => vec![user(&format!("mallory {round}"))],
                (true, false) => vec![user(POISON)],
                (true, true) => (0..19)
                    .map(|k| user(&format!("m{round}-{k}")))
                    .chain([user(POISON)])
                    .collect(),
            };
            calls.push((false, format!("mallory-{i}"), mallory.clone(), messages));
        }
        let outcomes =
            futures::future::join_all(calls.into_iter().map(|(is_alice, id, token, messages)| {
                let mut s = app.sessions(&token);
                let poisoned = messages
                    .iter()
                    .any(|m| m.content.as_deref() == Some(POISON));
                async move {
                    let outcome = s
                        .append_messages(pb::AppendMessagesRequest {
                            session_id: id.clone(),
                            messages,
                            create_if_missing: false,
                        })
                        .await;
                    (is_alice, poisoned, id, outcome)
                }
            }))
            .await;
        for (is_alice, poisoned, id, outcome) in outcomes {
            match (poisoned, outcome) {
                (false, Ok(_)) => {}
                (false, Err(status)) => {
                    panic!("{id} (alice: {is_alice}) failed with another's error: {status:?}")
                }
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
    for i in 0..PER_USER {
        let stored = walk(&mut s, &format!("alice-{i}"), 1000).await;
        let per_round = if i % 4 == 0 { 20 } else { 1 };
        assert_eq!(stored.len(), ROUNDS * per_round, "alice-{i}");
        let stored = walk(&mut s, &format!("mallory-{i}"), 1000).await;
        let poisoned_rounds = (0..ROUNDS).filter(|r| i % 3 == r % 3).count();
        assert_eq!(stored.len(), ROUNDS - poisoned_rounds, "mallory-{i}");
        assert!(stored.iter().all(|m| m.content.as_deref() != Some(POISON)));
        assert!(stored.iter().zip(1..).all(|(m, seq)| m.seq == seq));
    }
}
