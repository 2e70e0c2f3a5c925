//! Bounded whole-session work: the per-session message cap, the byte budget of whole-session
//! answers, ForkSession copying inside the database; and the checks on client-chosen values
//! (SaveSession's `last_activity`, server-generated session ids).

use crate::backend_tests;
use crate::flows::*;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use tonic::Code;
use tonic_types::StatusExt;

backend_tests!(
    a_session_holds_at_most_the_message_cap,
    whole_session_answers_have_a_byte_budget,
    fork_copies_a_session_larger_than_the_budget,
    save_session_refuses_a_last_activity_in_the_future,
    an_empty_session_id_gets_a_uuid_v7
);

/// The reason and metadata of a RESOURCE_EXHAUSTED status.
#[track_caller]
fn exhausted<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    reason: &str,
) -> std::collections::HashMap<String, String> {
    let status = assert_status(result, Code::ResourceExhausted, None);
    let info = status.get_error_details().error_info().unwrap().clone();
    assert_eq!(info.reason, reason, "{status:?}");
    info.metadata
}

async fn message_count(s: &mut Sessions, id: &str) -> i64 {
    s.get_session(pb::GetSessionRequest {
        session_id: id.into(),
        include_deleted: false,
    })
    .await
    .unwrap()
    .into_inner()
    .message_count
}

fn users(n: usize, tag: &str) -> Vec<pb::Message> {
    (0..n).map(|i| user(&format!("{tag} {i}"))).collect()
}

/// With `MAX_SESSION_MESSAGES=10`: appends up to 10 succeed, one more is RESOURCE_EXHAUSTED
/// (SESSION_TOO_LARGE, the limit in the metadata) and writes nothing; an append too large for
/// any session creates nothing; SaveSession of more than 10 is refused, of 10 accepted.
async fn a_session_holds_at_most_the_message_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.max_session_messages = 10).await;
    let mut s = app.sessions(&alice());
    append(&mut s, "s", users(8, "a")).await;
    for (n, path) in [(3, "one statement"), (17, "sequential")] {
        let refused = s
            .append_messages(pb::AppendMessagesRequest {
                session_id: "s".into(),
                messages: users(n, path),
                create_if_missing: false,
            })
            .await;
        let meta = exhausted(refused, "SESSION_TOO_LARGE");
        assert_eq!(meta["limit"], "10");
        // More than any session may hold is refused before it is queued: its own count.
        let messages = if n > 10 { n } else { 8 + n };
        assert_eq!(meta["messages"], messages.to_string());
        assert_eq!(meta["session_id"], "s");
        assert_eq!(message_count(&mut s, "s").await, 8, "{path}");
    }
    let last = append(&mut s, "s", users(2, "b")).await;
    assert_eq!((last.first_seq, last.last_seq), (9, 10));
    exhausted(
        s.append_messages(pb::AppendMessagesRequest {
            session_id: "s".into(),
            messages: vec![user("one more")],
            create_if_missing: true,
        })
        .await,
        "SESSION_TOO_LARGE",
    );
    assert_eq!(walk(&mut s, "s", 100).await.len(), 10);
    // Popping makes room again.
    s.pop_last_message(pb::PopLastMessageRequest {
        session_id: "s".into(),
    })
    .await
    .unwrap();
    append(&mut s, "s", vec![user("room again")]).await;

    // Too many for any session: refused before a session is created for it.
    exhausted(
        s.append_messages(pb::AppendMessagesRequest {
            session_id: "new".into(),
            messages: users(11, "c"),
            create_if_missing: true,
        })
        .await,
        "SESSION_TOO_LARGE",
    );
    assert_status(
        s.get_session(pb::GetSessionRequest {
            session_id: "new".into(),
            include_deleted: true,
        })
        .await,
        Code::NotFound,
        None,
    );

    let save = |messages| pb::SaveSessionRequest {
        session_id: "saved".into(),
        messages,
        last_activity: None,
    };
    let meta = exhausted(
        s.save_session(save(users(11, "d"))).await,
        "SESSION_TOO_LARGE",
    );
    assert_eq!(meta["limit"], "10");
    s.save_session(save(users(10, "d"))).await.unwrap();
    assert_eq!(message_count(&mut s, "saved").await, 10);
}

/// With a budget of 4,000 bytes: LoadSession of a session whose messages carry more is
/// RESOURCE_EXHAUSTED (RESPONSE_TOO_LARGE, telling to page with ListMessages), which still
/// pages through it; a session within the budget loads whole. Same for LoadAgentContext and
/// its switches (page with ListAgentSwitches). SaveSession of a snapshot that keeps a long
/// prefix compares it in chunks and keeps it.
async fn whole_session_answers_have_a_byte_budget(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.max_response_bytes = 4_000).await;
    let mut s = app.sessions(&alice());
    let big: Vec<pb::Message> = (0..250).map(|i| user(&format!("{i:>20}"))).collect();
    append(&mut s, "big", big.clone()).await;
    let load = |id: &str| pb::LoadSessionRequest {
        session_id: id.into(),
    };
    let refused = s.load_session(load("big")).await;
    let status = assert_status(refused, Code::ResourceExhausted, None);
    assert!(status.message().contains("ListMessages"), "{status:?}");
    let info = status.get_error_details().error_info().unwrap().clone();
    assert_eq!(info.reason, "RESPONSE_TOO_LARGE");
    assert_eq!(info.metadata["limit_bytes"], "4000");
    assert_eq!(walk(&mut s, "big", 100).await.len(), 250);

    // 150 messages of 24 bytes (role and content): 3,600 bytes, within the budget, more than
    // one read chunk.
    append(&mut s, "small", big[..150].to_vec()).await;
    let loaded = s.load_session(load("small")).await.unwrap().into_inner();
    assert_eq!(loaded.messages.len(), 150);
    assert!(loaded.messages.iter().zip(1..).all(|(m, seq)| m.seq == seq));

    // SaveSession of the big session's own messages plus one: its 250 stored messages are
    // compared a chunk at a time, all kept, one appended.
    let before = walk(&mut s, "big", 1000).await;
    let mut snapshot = big.clone();
    snapshot.push(user("appended by a snapshot"));
    let saved = s
        .save_session(pb::SaveSessionRequest {
            session_id: "big".into(),
            messages: snapshot,
            last_activity: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(saved.message_count, 251);
    let stored = walk(&mut s, "big", 1000).await;
    assert_eq!(
        stored[..250],
        before[..],
        "kept with their seq and timestamp"
    );
    assert_eq!(
        stored[250].content.as_deref(),
        Some("appended by a snapshot")
    );

    let mut a = app.agents(&alice());
    for i in 0..120 {
        a.switch_agent(pb::SwitchAgentRequest {
            session_id: "small".into(),
            to_agent: if i % 2 == 0 { "coder" } else { "planner" }.into(),
            reason: "r".repeat(40),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let refused = load_context(&mut a, "small").await;
    let status = assert_status(refused, Code::ResourceExhausted, None);
    assert!(status.message().contains("ListAgentSwitches"), "{status:?}");
    create(&mut s, "few").await;
    for _ in 0..3 {
        a.switch_agent(pb::SwitchAgentRequest {
            session_id: "few".into(),
            to_agent: "coder".into(),
            reason: "r".repeat(40),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let loaded = load_context(&mut a, "few").await.unwrap().into_inner();
    assert_eq!(loaded.agent_history.len(), 3);
}

/// ForkSession copies inside the database: a session too large to load whole forks, whole or
/// in part, with exact counters, and its agent switches keep their order.
async fn fork_copies_a_session_larger_than_the_budget(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.max_response_bytes = 2_000).await;
    let mut s = app.sessions(&alice());
    let mut messages = Vec::new();
    for i in 0..150 {
        messages.push(pb::Message {
            token_count: 3,
            ..user(&format!("question {i:>10}"))
        });
        messages.push(pb::Message {
            token_count: 5,
            ..assistant(&format!("answer {i:>12}"))
        });
    }
    append(&mut s, "src", messages).await;
    let mut a = app.agents(&alice());
    for agent in ["planner", "coder", "reviewer"] {
        a.switch_agent(pb::SwitchAgentRequest {
            session_id: "src".into(),
            to_agent: agent.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    assert_status(
        s.load_session(pb::LoadSessionRequest {
            session_id: "src".into(),
        })
        .await,
        Code::ResourceExhausted,
        None,
    );
    for (new_id, up_to_seq, count, tokens) in [("whole", 0, 300, 1200), ("part", 101, 101, 403)] {
        let fork = s
            .fork_session(pb::ForkSessionRequest {
                session_id: "src".into(),
                up_to_seq,
                new_session_id: new_id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(fork.message_count, count, "{new_id}");
        let stats = s
            .get_session_stats(pb::GetSessionStatsRequest {
                session_id: new_id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stats.total_tokens, tokens, "{new_id}");
        let users = (count + 1) / 2;
        assert_eq!(stats.messages_by_role["user"], users, "{new_id}");
        assert_eq!(
            stats.messages_by_role["assistant"],
            count - users,
            "{new_id}"
        );
        let original = walk(&mut s, "src", 1000).await;
        let copied = walk(&mut s, new_id, 1000).await;
        assert_eq!(copied.len() as i64, count);
        assert_eq!(copied[..], original[..count as usize], "{new_id}");
        assert_eq!(stats.last_message_at, copied.last().unwrap().timestamp);
        let switches = a
            .list_agent_switches(pb::ListAgentSwitchesRequest {
                session_id: new_id.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .switches;
        let order: Vec<&str> = switches.iter().map(|w| w.to_agent.as_str()).collect();
        assert_eq!(order, ["reviewer", "coder", "planner"], "newest first");
        // The copy is a session of its own: appending to it leaves the source alone.
        append(&mut s, new_id, vec![user("only in the fork")]).await;
    }
    assert_eq!(walk(&mut s, "src", 1000).await.len(), 300);
}

/// SaveSession refuses a `last_activity` more than the clock skew (5 minutes) ahead, naming
/// the field, and writes nothing; one within the skew, or in the past, is kept.
async fn save_session_refuses_a_last_activity_in_the_future(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let at = |offset: chrono::TimeDelta| {
        let t = chrono::Utc::now() + offset;
        Some(prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: 0,
        })
    };
    let save = |last_activity| pb::SaveSessionRequest {
        session_id: "s".into(),
        messages: vec![user("hello")],
        last_activity,
    };
    for ahead in [chrono::TimeDelta::minutes(6), chrono::TimeDelta::days(365)] {
        assert_status(
            s.save_session(save(at(ahead))).await,
            Code::InvalidArgument,
            Some("last_activity"),
        );
    }
    assert_status(
        s.get_session(pb::GetSessionRequest {
            session_id: "s".into(),
            include_deleted: true,
        })
        .await,
        Code::NotFound,
        None,
    );
    for offset in [chrono::TimeDelta::minutes(1), chrono::TimeDelta::days(-3)] {
        let expected = at(offset);
        let saved = s.save_session(save(expected)).await.unwrap().into_inner();
        assert_eq!(saved.last_activity, expected);
    }
}

/// CreateSession without a `session_id` gets a server-generated UUIDv7 (random, time-ordered:
/// no client-chosen id to guess or collide with).
async fn an_empty_session_id_gets_a_uuid_v7(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created = s
            .create_session(pb::CreateSessionRequest::default())
            .await
            .unwrap()
            .into_inner();
        let id = uuid::Uuid::parse_str(&created.session_id).unwrap();
        assert_eq!(id.get_version_num(), 7, "{id}");
        assert_eq!(id.to_string(), created.session_id, "canonical form");
        ids.push(created.session_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3);
}
