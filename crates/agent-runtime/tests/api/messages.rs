//! Messages: append, keyset pages, old-client pages, pop, fork, stats, snapshots, bad input.

use crate::backend_tests;
use crate::flows::*;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(
    append_assigns_consecutive_seqs_and_titles,
    small_and_large_appends_to_an_existing_session_stay_contiguous,
    list_messages_pages_forward_backward_by_role_and_page,
    bad_messages_are_refused_and_nothing_is_written,
    oversized_messages_are_refused_and_nothing_is_written,
    pop_fork_and_stats_keep_counters_exact,
    save_session_keeps_unchanged_prefix,
    page_walk_under_concurrent_appends_sees_each_message_once,
    concurrent_appends_get_contiguous_seqs_and_fail_alone,
    an_append_whose_commit_fails_is_not_acknowledged,
    messages_keep_their_own_timestamp_or_take_the_commits,
);

/// The ErrorInfo reason of `status`.
fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .unwrap()
        .reason
        .clone()
}

/// A message sent with a timestamp keeps it, to the microsecond; the messages of a call sent
/// without one all take the same time, that of the call's commit (between the call's start and
/// its answer), and the session's `last_activity` is that time too.
async fn messages_keep_their_own_timestamp_or_take_the_commits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let given = prost_types::Timestamp {
        seconds: 1_767_323_045, // 2026-01-02 03:04:05 UTC
        nanos: 123_456_000,
    };
    let before = chrono::Utc::now().timestamp_micros();
    let appended = append(
        &mut s,
        "t",
        vec![
            user("first"),
            pb::Message {
                timestamp: Some(given),
                ..assistant("second")
            },
            user("third"),
        ],
    )
    .await;
    let after = chrono::Utc::now().timestamp_micros();
    let micros = |t: &prost_types::Timestamp| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000;
    let all = walk(&mut s, "t", 50).await;
    let stamps: Vec<i64> = all
        .iter()
        .map(|m| micros(m.timestamp.as_ref().unwrap()))
        .collect();
    assert_eq!(stamps[1], micros(&given), "a given timestamp is kept");
    assert_eq!(stamps[0], stamps[2], "one call, one commit time");
    assert!(
        (before..=after).contains(&stamps[0]),
        "{} not within the call ({before}..={after})",
        stamps[0]
    );
    let activity = appended.session.unwrap().last_activity.unwrap();
    assert_eq!(micros(&activity), stamps[0]);
}

async fn append_assigns_consecutive_seqs_and_titles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let missing = s
        .append_messages(pb::AppendMessagesRequest {
            session_id: "nope".into(),
            messages: vec![user("x")],
            create_if_missing: false,
        })
        .await;
    assert_status(missing, Code::NotFound, None);

    let first = append(
        &mut s,
        "c",
        vec![
            pb::Message {
                role: pb::Role::System as i32,
                content: Some("be brief".into()),
                ..Default::default()
            },
            user("How do I   reverse\na list in Rust?"),
        ],
    )
    .await;
    assert_eq!((first.first_seq, first.last_seq), (1, 2));
    let session = first.session.unwrap();
    assert_eq!(session.title, "How do I reverse a list in Rust?");
    assert_eq!(session.message_count, 2);
    let tool_call = pb::Message {
        role: pb::Role::Assistant as i32,
        content: None,
        tool_calls: vec![pb::ToolCall {
            id: "call_1".into(),
            r#type: String::new(),
            name: "read_file".into(),
            arguments_json: r#"{"path":"src/main.rs"}"#.into(),
        }],
        ..Default::default()
    };
    let tool_result = pb::Message {
        role: pb::Role::Tool as i32,
        content: Some("fn main() {}".into()),
        tool_call_id: "call_1".into(),
        ..Default::default()
    };
    let second = append(&mut s, "c", vec![tool_call, tool_result, user("thanks")]).await;
    assert_eq!((second.first_seq, second.last_seq), (3, 5));
    // The title is set once, from the first user message.
    assert_eq!(
        second.session.unwrap().title,
        "How do I reverse a list in Rust?"
    );

    let all = walk(&mut s, "c", 50).await;
    assert_eq!(
        all.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(all[2].tool_calls[0].r#type, "function");
    assert_eq!(
        all[2].tool_calls[0].arguments_json,
        r#"{"path":"src/main.rs"}"#
    );
    assert_eq!(all[3].tool_call_id, "call_1");
    assert!(all.iter().all(|m| m.timestamp.is_some()));
    // token_count is counted server-side with cl100k_base when the client sends 0.
    assert_eq!(all[4].token_count, 1, "\"thanks\" is one cl100k token");
    assert!(all[1].token_count > 5);
    let given = append(
        &mut s,
        "c",
        vec![pb::Message {
            token_count: 99,
            ..user("x")
        }],
    )
    .await;
    assert_eq!(given.last_seq, 6);
}

/// Appends of 1, 16 and 17 messages to an existing session (on PostgreSQL the first two are one
/// statement each, the last takes the chunked path) keep `seq` contiguous, in call order, and
/// the stored counters exact.
async fn small_and_large_appends_to_an_existing_session_stay_contiguous(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let texts = |n: usize, tag: &str| (0..n).map(|i| user(&format!("{tag}{i}"))).collect();
    let first = append(&mut s, "mixed-sizes", texts(2, "a")).await;
    assert_eq!((first.first_seq, first.last_seq), (1, 2));
    let one = append(&mut s, "mixed-sizes", texts(1, "b")).await;
    assert_eq!((one.first_seq, one.last_seq), (3, 3));
    let sixteen = append(&mut s, "mixed-sizes", texts(16, "c")).await;
    assert_eq!((sixteen.first_seq, sixteen.last_seq), (4, 19));
    let seventeen = append(&mut s, "mixed-sizes", texts(17, "d")).await;
    assert_eq!((seventeen.first_seq, seventeen.last_seq), (20, 36));
    assert_eq!(seventeen.session.unwrap().message_count, 36);

    let all = walk(&mut s, "mixed-sizes", 100).await;
    assert_eq!(
        all.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=36).collect::<Vec<_>>()
    );
    let expected: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .zip([2, 1, 16, 17])
        .flat_map(|(tag, n)| (0..n).map(move |i| format!("{tag}{i}")))
        .collect();
    let stored: Vec<String> = all.iter().map(|m| m.content.clone().unwrap()).collect();
    assert_eq!(stored, expected);
}

async fn list_messages_pages_forward_backward_by_role_and_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let batch: Vec<_> = (1..=23)
        .map(|i| {
            if i % 2 == 1 {
                user(&format!("u{i}"))
            } else {
                assistant(&format!("a{i}"))
            }
        })
        .collect();
    append(&mut s, "long", batch).await;

    let forward = walk(&mut s, "long", 5).await;
    assert_eq!(
        forward.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=23).collect::<Vec<_>>()
    );

    // Newest first, the last N turns.
    let last = s
        .list_messages(pb::ListMessagesRequest {
            session_id: "long".into(),
            page_size: 4,
            reverse: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        last.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![23, 22, 21, 20]
    );
    assert_eq!(last.total_size, 23);
    let next = s
        .list_messages(pb::ListMessagesRequest {
            session_id: "long".into(),
            page_size: 4,
            reverse: true,
            page_token: last.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![19, 18, 17, 16]
    );

    // A reverse token used forward belongs to another query.
    let foreign = s
        .list_messages(pb::ListMessagesRequest {
            session_id: "long".into(),
            page_size: 4,
            page_token: last.next_page_token.clone(),
            ..Default::default()
        })
        .await;
    assert_status(foreign, Code::InvalidArgument, Some("page_token"));
    // So does a token of another session, or with another role filter; a token with one bit
    // of its position changed fails its signature.
    append(&mut s, "other", vec![user("x")]).await;
    for (session, role, token) in [
        ("other", 0, last.next_page_token.clone()),
        ("long", pb::Role::User as i32, last.next_page_token.clone()),
        ("long", 0, tampered(&last.next_page_token)),
    ] {
        let refused = s
            .list_messages(pb::ListMessagesRequest {
                session_id: session.into(),
                page_size: 4,
                reverse: true,
                role,
                page_token: token,
                ..Default::default()
            })
            .await;
        let status = assert_status(refused, Code::InvalidArgument, Some("page_token"));
        assert_eq!(reason(&status), "INVALID_PAGE_TOKEN");
    }
    let unknown_role = s
        .list_messages(pb::ListMessagesRequest {
            session_id: "long".into(),
            role: 99,
            ..Default::default()
        })
        .await;
    let status = assert_status(unknown_role, Code::InvalidArgument, Some("role"));
    assert_eq!(reason(&status), "INVALID_ROLE");

    // Role filter.
    let users = s
        .list_messages(pb::ListMessagesRequest {
            session_id: "long".into(),
            page_size: 100,
            role: pb::Role::User as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(users.total_size, 12);
    assert!(
        users
            .messages
            .iter()
            .all(|m| m.role == pb::Role::User as i32)
    );

    // Old clients: 1-based page numbers, forward, reverse and with a role.
    let user_only = pb::Role::User as i32;
    let assistant_only = pb::Role::Assistant as i32;
    let cases: [(i32, bool, i32, Vec<i64>); 6] = [
        (3, false, 0, vec![11, 12, 13, 14, 15]),
        (5, false, 0, vec![21, 22, 23]),
        (2, true, 0, vec![18, 17, 16, 15, 14]),
        (2, false, assistant_only, vec![12, 14, 16, 18, 20]),
        (2, true, user_only, vec![13, 11, 9, 7, 5]),
        (99, false, 0, vec![]),
    ];
    for (page, reverse, role, expected) in cases {
        let request = pb::ListMessagesRequest {
            session_id: "long".into(),
            page_size: 5,
            page,
            reverse,
            role,
            ..Default::default()
        };
        let got = s.list_messages(request).await.unwrap().into_inner();
        let seqs: Vec<i64> = got.messages.iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs, expected,
            "page {page}, reverse {reverse}, role {role}"
        );
        if page == 5 {
            assert!(
                got.next_page_token.is_empty(),
                "the last page has no next token"
            );
        }
    }

    assert_status(
        s.list_messages(pb::ListMessagesRequest {
            session_id: "long".into(),
            page_size: -5,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        Some("page_size"),
    );
    assert_status(
        s.list_messages(pb::ListMessagesRequest {
            session_id: "long".into(),
            page: -1,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        Some("page"),
    );
    assert_status(
        s.list_messages(pb::ListMessagesRequest {
            session_id: "long".into(),
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    assert_status(
        s.list_messages(pb::ListMessagesRequest {
            session_id: "missing".into(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
        None,
    );
}

async fn bad_messages_are_refused_and_nothing_is_written(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.max_messages_per_append = 10).await;
    let mut s = app.sessions(&alice());
    append(&mut s, "v", vec![user("first")]).await;
    let bad = |m: pb::Message| pb::AppendMessagesRequest {
        session_id: "v".into(),
        messages: vec![user("ok"), m],
        create_if_missing: false,
    };

    let cases: Vec<(pb::Message, &str)> = vec![
        (
            pb::Message {
                role: 0,
                ..user("x")
            },
            "messages[1].role",
        ),
        (
            pb::Message {
                role: 42,
                ..user("x")
            },
            "messages[1].role",
        ),
        (
            pb::Message {
                content: None,
                ..user("x")
            },
            "messages[1].content",
        ),
        (
            pb::Message {
                role: pb::Role::Tool as i32,
                ..user("x")
            },
            "messages[1].tool_call_id",
        ),
        (
            pb::Message {
                metadata_json: "not json".into(),
                ..user("x")
            },
            "messages[1].metadata_json",
        ),
        (
            pb::Message {
                metadata_json: "[1,2]".into(),
                ..user("x")
            },
            "messages[1].metadata_json",
        ),
        (
            pb::Message {
                token_count: -1,
                ..user("x")
            },
            "messages[1].token_count",
        ),
        (
            pb::Message {
                timestamp: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -5,
                }),
                ..user("x")
            },
            "messages[1].timestamp",
        ),
        (
            pb::Message {
                tool_calls: vec![pb::ToolCall {
                    id: "c".into(),
                    r#type: String::new(),
                    name: "f".into(),
                    arguments_json: "{broken".into(),
                }],
                ..assistant("x")
            },
            "messages[1].tool_calls[0].arguments_json",
        ),
        (
            pb::Message {
                tool_calls: vec![pb::ToolCall {
                    id: String::new(),
                    r#type: String::new(),
                    name: "f".into(),
                    arguments_json: String::new(),
                }],
                ..assistant("x")
            },
            "messages[1].tool_calls[0].id",
        ),
    ];
    for (message, field) in cases {
        assert_status(
            s.append_messages(bad(message)).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    let too_many = pb::AppendMessagesRequest {
        session_id: "v".into(),
        messages: (0..11).map(|_| user("x")).collect(),
        create_if_missing: false,
    };
    assert_status(
        s.append_messages(too_many).await,
        Code::InvalidArgument,
        Some("messages"),
    );
    let empty = pb::AppendMessagesRequest {
        session_id: "v".into(),
        messages: vec![],
        create_if_missing: false,
    };
    assert_status(
        s.append_messages(empty).await,
        Code::InvalidArgument,
        Some("messages"),
    );

    // No partial write: the session still holds only its first message.
    let stats = s
        .get_session_stats(pb::GetSessionStatsRequest {
            session_id: "v".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.message_count, 1);
    assert_eq!(walk(&mut s, "v", 10).await.len(), 1);
}

/// `AGENT_RUNTIME__LIMITS__MAX_MESSAGE_BYTES`: one message over the cap (content, tool calls
/// and metadata together) fails the whole AppendMessages or SaveSession with INVALID_ARGUMENT
/// naming its largest part; nothing of the call is stored.
async fn oversized_messages_are_refused_and_nothing_is_written(backend: Backend) {
    use tonic_types::StatusExt;
    const LIMIT: usize = 2048;
    let app = TestApp::spawn_with(backend, |c| c.limits.max_message_bytes = LIMIT).await;
    let mut s = app.sessions(&alice());
    append(&mut s, "cap", vec![user("first")]).await;

    // Exactly at the cap is fine.
    append(&mut s, "cap", vec![user(&"x".repeat(LIMIT))]).await;

    let too_big = user(&"é".repeat(LIMIT / 2 + 1)); // 2 bytes per character
    let refused = s
        .append_messages(pb::AppendMessagesRequest {
            session_id: "cap".into(),
            messages: vec![user("ok"), too_big.clone()],
            create_if_missing: false,
        })
        .await;
    let status = assert_status(refused, Code::InvalidArgument, Some("messages[1].content"));
    let info = status.get_error_details().error_info().unwrap().clone();
    assert_eq!(info.reason, "MESSAGE_TOO_LARGE");
    assert_eq!(info.metadata["limit_bytes"], LIMIT.to_string());
    assert_eq!(info.metadata["size_bytes"], (LIMIT + 2).to_string());

    // Content, tool calls and metadata count together; the largest part is named.
    let calls = pb::Message {
        role: pb::Role::Assistant as i32,
        content: Some("c".repeat(LIMIT / 4)),
        tool_calls: vec![pb::ToolCall {
            id: "call_1".into(),
            r#type: String::new(),
            name: "write_file".into(),
            arguments_json: format!("{{\"text\":\"{}\"}}", "a".repeat(LIMIT / 2)),
        }],
        metadata_json: format!("{{\"m\":\"{}\"}}", "m".repeat(LIMIT / 4)),
        ..Default::default()
    };
    let refused = s
        .append_messages(pb::AppendMessagesRequest {
            session_id: "cap".into(),
            messages: vec![calls],
            create_if_missing: false,
        })
        .await;
    assert_status(
        refused,
        Code::InvalidArgument,
        Some("messages[0].tool_calls"),
    );

    // A new session is not created either.
    let refused = s
        .append_messages(pb::AppendMessagesRequest {
            session_id: "cap-new".into(),
            messages: vec![too_big.clone()],
            create_if_missing: true,
        })
        .await;
    assert_status(refused, Code::InvalidArgument, Some("messages[0].content"));
    assert_status(
        s.get_session(pb::GetSessionRequest {
            session_id: "cap-new".into(),
            include_deleted: true,
        })
        .await,
        Code::NotFound,
        None,
    );

    // SaveSession: the snapshot is refused whole, the stored one stays.
    let refused = s
        .save_session(pb::SaveSessionRequest {
            session_id: "cap".into(),
            messages: vec![user("first"), too_big],
            last_activity: None,
        })
        .await;
    assert_status(refused, Code::InvalidArgument, Some("messages[1].content"));
    let stored = walk(&mut s, "cap", 10).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].content.as_deref().map(str::len), Some(LIMIT));
    app.shutdown().await;
}

async fn pop_fork_and_stats_keep_counters_exact(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let mut agents = app.agents(&alice());
    append(
        &mut s,
        "src",
        vec![
            user("one"),
            assistant("two"),
            user("three"),
            assistant("four"),
        ],
    )
    .await;
    agents
        .switch_agent(pb::SwitchAgentRequest {
            session_id: "src".into(),
            to_agent: "coder".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let stats = s
        .get_session_stats(pb::GetSessionStatsRequest {
            session_id: "src".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.message_count, 4);
    assert_eq!(stats.messages_by_role["user"], 2);
    assert_eq!(stats.messages_by_role["assistant"], 2);
    assert_eq!(stats.messages_by_role["tool"], 0);
    let tokens: i64 = walk(&mut s, "src", 10)
        .await
        .iter()
        .map(|m| i64::from(m.token_count))
        .sum();
    assert_eq!(stats.total_tokens, tokens);
    assert!(stats.last_message_at.is_some());

    let popped = s
        .pop_last_message(pb::PopLastMessageRequest {
            session_id: "src".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((popped.seq, popped.content.as_deref()), (4, Some("four")));
    let after = s
        .get_session_stats(pb::GetSessionStatsRequest {
            session_id: "src".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (after.message_count, after.messages_by_role["assistant"]),
        (3, 1)
    );
    assert_eq!(after.total_tokens, tokens - i64::from(popped.token_count));
    // The next append reuses seq 4: no gap.
    assert_eq!(
        append(&mut s, "src", vec![assistant("four again")])
            .await
            .first_seq,
        4
    );

    let fork = s
        .fork_session(pb::ForkSessionRequest {
            session_id: "src".into(),
            up_to_seq: 2,
            new_session_id: "fork".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((fork.owner.as_str(), fork.message_count), ("alice", 2));
    let copied = walk(&mut s, "fork", 10).await;
    assert_eq!(
        copied
            .iter()
            .map(|m| m.content.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["one", "two"]
    );
    let ctx = agent_context(&mut agents, "fork")
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ctx.current_agent, "coder");
    let fork_stats = s
        .get_session_stats(pb::GetSessionStatsRequest {
            session_id: "fork".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fork_stats.messages_by_role["user"], 1);
    let all = s
        .fork_session(pb::ForkSessionRequest {
            session_id: "src".into(),
            up_to_seq: 0,
            new_session_id: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(all.into_inner().message_count, 4);
    assert_status(
        s.fork_session(pb::ForkSessionRequest {
            session_id: "src".into(),
            up_to_seq: 9,
            new_session_id: "f2".into(),
        })
        .await,
        Code::InvalidArgument,
        Some("up_to_seq"),
    );
    assert_status(
        s.fork_session(pb::ForkSessionRequest {
            session_id: "src".into(),
            up_to_seq: 1,
            new_session_id: "fork".into(),
        })
        .await,
        Code::AlreadyExists,
        None,
    );

    create(&mut s, "empty").await;
    assert_status(
        s.pop_last_message(pb::PopLastMessageRequest {
            session_id: "empty".into(),
        })
        .await,
        Code::NotFound,
        None,
    );
}

async fn save_session_keeps_unchanged_prefix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let v1 = vec![user("a"), assistant("b"), user("c")];
    s.save_session(pb::SaveSessionRequest {
        session_id: "snap".into(),
        messages: v1.clone(),
        last_activity: None,
    })
    .await
    .unwrap();
    let before = s
        .load_session(pb::LoadSessionRequest {
            session_id: "snap".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.messages.len(), 3);

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // The old client sends the whole conversation again, one turn longer.
    let mut v2 = v1.clone();
    v2.push(assistant("d"));
    let saved = s
        .save_session(pb::SaveSessionRequest {
            session_id: "snap".into(),
            messages: v2,
            last_activity: None,
        })
        .await
        .unwrap();
    assert_eq!(saved.into_inner().message_count, 4);
    let after = s
        .load_session(pb::LoadSessionRequest {
            session_id: "snap".into(),
        })
        .await
        .unwrap()
        .into_inner();
    for (old, new) in before.messages.iter().zip(&after.messages) {
        assert_eq!(
            (old.seq, &old.timestamp),
            (new.seq, &new.timestamp),
            "unchanged messages keep seq and timestamp"
        );
    }
    assert_eq!(after.messages[3].content.as_deref(), Some("d"));

    // Editing turn 2 replaces turns 2.. and nothing before.
    let v3 = vec![user("a"), assistant("B!")];
    s.save_session(pb::SaveSessionRequest {
        session_id: "snap".into(),
        messages: v3,
        last_activity: None,
    })
    .await
    .unwrap();
    let edited = s
        .load_session(pb::LoadSessionRequest {
            session_id: "snap".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        edited.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(edited.messages[0].timestamp, before.messages[0].timestamp);
    assert_eq!(edited.messages[1].content.as_deref(), Some("B!"));
    let stats = s
        .get_session_stats(pb::GetSessionStatsRequest {
            session_id: "snap".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            stats.message_count,
            stats.messages_by_role["user"],
            stats.messages_by_role["assistant"]
        ),
        (2, 1, 1)
    );

    // A bad message in a snapshot writes nothing.
    let bad = vec![
        user("a"),
        pb::Message {
            role: 0,
            ..user("x")
        },
    ];
    assert_status(
        s.save_session(pb::SaveSessionRequest {
            session_id: "snap".into(),
            messages: bad,
            last_activity: None,
        })
        .await,
        Code::InvalidArgument,
        Some("messages[1].role"),
    );
    assert_eq!(
        s.load_session(pb::LoadSessionRequest {
            session_id: "snap".into()
        })
        .await
        .unwrap()
        .into_inner()
        .messages
        .len(),
        2
    );
}

/// Property: any page walk started while another client appends returns each message it
/// covers exactly once and in order — forward and reverse with `page_token` (page sizes varying
/// page to page), filtered by role, and old clients' `page=N` (with and without a role filter).
/// Forward walks see a prefix of the final list; a reverse walk sees everything up to the newest
/// message of its first page. (Reverse `page=N` counts from the newest message, so appends shift
/// its pages by design; it is covered without writers in
/// `list_messages_pages_forward_backward_by_role_and_page`.)
async fn page_walk_under_concurrent_appends_sees_each_message_once(backend: Backend) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let app = TestApp::spawn(backend).await;
    let mut runner = TestRunner::new(Config {
        cases: 16,
        ..Config::default()
    });
    let strategy = (
        prop_oneof![
            Just(Walk::Tokens { reverse: false }),
            Just(Walk::Tokens { reverse: true }),
            (any::<bool>(), any::<bool>()).prop_map(|(reverse, user)| Walk::Role {
                reverse,
                role: if user {
                    pb::Role::User
                } else {
                    pb::Role::Assistant
                },
            }),
            Just(Walk::Pages { role: None }),
            any::<bool>().prop_map(|user| Walk::Pages {
                role: Some(if user {
                    pb::Role::User
                } else {
                    pb::Role::Assistant
                }),
            }),
        ],
        prop::collection::vec(1i32..17, 1..6),
        prop::collection::vec(1usize..6, 5..15),
    );
    let handle = tokio::runtime::Handle::current();
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&strategy, |(walk, page_sizes, batches)| {
            let id = format!(
                "walk-{}",
                case.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            );
            let result = tokio::task::block_in_place(|| {
                handle.block_on(walk_while_appending(&app, &id, walk, page_sizes, batches))
            });
            prop_assert!(result.is_ok(), "{:?}: {:?}", walk, result);
            Ok(())
        })
        .unwrap();
}

/// How a property-test walk pages through a session.
#[derive(Debug, Clone, Copy)]
enum Walk {
    /// `page_token`, every role.
    Tokens { reverse: bool },
    /// `page_token`, one role.
    Role { reverse: bool, role: pb::Role },
    /// `page=1, 2, …` with one page size, forward, optionally one role.
    Pages { role: Option<pb::Role> },
}

/// Messages the appender of [`walk_while_appending`] writes before the walk starts: enough
/// for every walk to take several pages (page sizes are 1–16) while the appends go on.
const WALK_INITIAL: i64 = 40;

/// Role of message `n` in a walk session: every third is the assistant's.
fn walk_role(n: i64) -> pb::Role {
    if n % 3 == 0 {
        pb::Role::Assistant
    } else {
        pb::Role::User
    }
}

fn walk_message(n: i64) -> pb::Message {
    pb::Message {
        role: walk_role(n) as i32,
        content: Some(format!("m{n}")),
        ..Default::default()
    }
}

async fn walk_while_appending(
    app: &TestApp,
    id: &str,
    how: Walk,
    page_sizes: Vec<i32>,
    batches: Vec<usize>,
) -> Result<(), String> {
    let mut writer = app.sessions(&alice());
    append(
        &mut writer,
        id,
        (1..=WALK_INITIAL).map(walk_message).collect(),
    )
    .await;
    let writer_id = id.to_owned();
    let appender = tokio::spawn(async move {
        let mut n = WALK_INITIAL;
        for size in batches {
            let msgs = (0..size)
                .map(|_| {
                    n += 1;
                    walk_message(n)
                })
                .collect();
            append(&mut writer, &writer_id, msgs).await;
        }
    });
    let mut reader = app.sessions(&alice());
    let (reverse, role) = match how {
        Walk::Tokens { reverse } => (reverse, None),
        Walk::Role { reverse, role } => (reverse, Some(role)),
        Walk::Pages { role } => (false, role),
    };
    let mut seen: Vec<pb::Message> = Vec::new();
    let mut token = String::new();
    for i in 0..10_000usize {
        let (page_size, page, page_token) = match how {
            Walk::Pages { .. } => (page_sizes[0], i as i32 + 1, String::new()),
            _ => (page_sizes[i % page_sizes.len()], 0, token.clone()),
        };
        let listed = reader
            .list_messages(pb::ListMessagesRequest {
                session_id: id.into(),
                page_size,
                page_token,
                page,
                reverse,
                role: role.map_or(0, |r| r as i32),
            })
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        seen.extend(listed.messages);
        if listed.next_page_token.is_empty() {
            break;
        }
        token = listed.next_page_token;
    }
    appender.await.map_err(|e| e.to_string())?;

    // A last walk after the writer finished sees everything exactly once.
    let all = walk(&mut reader, id, 7).await;
    let total = reader
        .get_session_stats(pb::GetSessionStatsRequest {
            session_id: id.into(),
        })
        .await
        .map_err(|e| e.to_string())?
        .into_inner()
        .message_count;
    if all.iter().map(|m| m.seq).collect::<Vec<_>>() != (1..=total).collect::<Vec<_>>() {
        return Err("final walk is not 1..=total".into());
    }
    for m in &all {
        if m.content.as_deref() != Some(format!("m{}", m.seq).as_str())
            || m.role != walk_role(m.seq) as i32
        {
            return Err(format!("seq {} holds {:?}", m.seq, m.content));
        }
    }

    let matching: Vec<i64> = (1..=total)
        .filter(|n| role.is_none_or(|r| walk_role(*n) == r))
        .collect();
    let got: Vec<i64> = seen.iter().map(|m| m.seq).collect();
    let initial = matching.iter().filter(|n| **n <= WALK_INITIAL).count();
    let expected: Vec<i64> = if reverse {
        // Everything at or below the newest message of the first page, newest first.
        let top = got.first().copied().unwrap_or(0);
        matching
            .iter()
            .rev()
            .copied()
            .filter(|n| *n <= top)
            .collect()
    } else {
        matching.iter().copied().take(got.len()).collect()
    };
    if got != expected || got.len() < initial {
        return Err(format!("walk saw {got:?}, expected {expected:?}"));
    }
    if seen
        .iter()
        .any(|m| m.content.as_deref() != Some(format!("m{}", m.seq).as_str()))
    {
        return Err("a page returned a message with the wrong content".into());
    }
    Ok(())
}

async fn concurrent_appends_get_contiguous_seqs_and_fail_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..4 {
        create(&mut app.sessions(&alice()), &format!("c{i}")).await;
    }
    let mut tasks = Vec::new();
    for t in 0..16 {
        let mut s = app.sessions(&alice());
        tasks.push(tokio::spawn(async move {
            let mut ranges = Vec::new();
            let mut refused = 0;
            for n in 0..20 {
                // Every fifth call targets a session that does not exist: it must fail alone.
                let id = if n % 5 == 4 {
                    "missing".to_owned()
                } else {
                    format!("c{}", (t + n) % 4)
                };
                let batch = (0..1 + n % 3)
                    .map(|k| user(&format!("t{t} n{n} k{k}")))
                    .collect();
                match s
                    .append_messages(pb::AppendMessagesRequest {
                        session_id: id.clone(),
                        messages: batch,
                        create_if_missing: false,
                    })
                    .await
                {
                    Ok(r) => {
                        let r = r.into_inner();
                        ranges.push((id, r.first_seq, r.last_seq));
                    }
                    Err(status) => {
                        assert_eq!(status.code(), Code::NotFound);
                        assert_eq!(id, "missing");
                        refused += 1;
                    }
                }
            }
            (ranges, refused)
        }));
    }
    let mut by_session: std::collections::BTreeMap<String, Vec<(i64, i64)>> = Default::default();
    let mut refused = 0;
    for task in tasks {
        let (ranges, r) = task.await.unwrap();
        refused += r;
        for (id, first, last) in ranges {
            by_session.entry(id).or_default().push((first, last));
        }
    }
    assert_eq!(refused, 16 * 4);
    let mut s = app.sessions(&alice());
    for (id, mut ranges) in by_session {
        ranges.sort();
        // The acknowledged ranges tile 1..=n exactly: no gap, no overlap.
        let mut next = 1;
        for (first, last) in &ranges {
            assert_eq!(*first, next, "{id}: ranges {ranges:?}");
            next = last + 1;
        }
        let stored = walk(&mut s, &id, 1000).await;
        assert_eq!(
            stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..next).collect::<Vec<_>>()
        );
        let stats = s
            .get_session_stats(pb::GetSessionStatsRequest {
                session_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stats.message_count, next - 1);
    }
}

/// On SQLite the append writer is a thread of its own: while it waits for the write lock (held
/// here by another connection), even a single-threaded runtime goes on answering other calls,
/// and the append commits once the lock is free.
#[tokio::test(flavor = "current_thread")]
async fn an_append_waiting_for_the_sqlite_lock_does_not_stall_other_calls() {
    use diesel::{Connection, RunQueryDsl, sqlite::SqliteConnection};
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.db.busy_timeout_ms = 60_000).await;
    let mut s = app.sessions(&alice());
    create(&mut s, "locked").await;
    let path = app
        .db
        .url()
        .sqlite_path()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let mut holder = SqliteConnection::establish(&path).unwrap();
    diesel::sql_query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .unwrap();

    let mut appender = app.sessions(&alice());
    let pending = tokio::spawn(async move {
        appender
            .append_messages(pb::AppendMessagesRequest {
                session_id: "locked".into(),
                messages: vec![user("waits for the lock")],
                create_if_missing: false,
            })
            .await
    });
    // Long enough for the append to reach the writer, which then waits in `busy_timeout`.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let session = s
        .get_session(pb::GetSessionRequest {
            session_id: "locked".into(),
            include_deleted: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(session.message_count, 0);
    assert!(
        !pending.is_finished(),
        "the append finished while the lock was held"
    );

    diesel::sql_query("COMMIT").execute(&mut holder).unwrap();
    let appended = pending.await.unwrap().unwrap().into_inner();
    assert_eq!((appended.first_seq, appended.last_seq), (1, 1));
}

/// Makes every later commit that inserted a message fail at COMMIT time (a deferred
/// constraint: the statements succeed, the commit does not), or undoes it.
async fn refuse_commits(app: &TestApp, backend: Backend, refuse: bool) {
    use diesel_async::SimpleAsyncConnection;
    let sql = match (backend, refuse) {
        (Backend::Postgres, true) => {
            "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$; \
             CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON messages \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();"
        }
        (Backend::Postgres, false) => {
            "DROP TRIGGER refuse_commit ON messages; DROP FUNCTION refuse_commit();"
        }
        (Backend::Sqlite, true) => {
            "CREATE TABLE refuse_commit (session_db_id INTEGER \
             REFERENCES sessions (id) DEFERRABLE INITIALLY DEFERRED); \
             CREATE TRIGGER refuse_commit AFTER INSERT ON messages \
             BEGIN INSERT INTO refuse_commit VALUES (-1); END;"
        }
        (Backend::Sqlite, false) => "DROP TRIGGER refuse_commit; DROP TABLE refuse_commit;",
    };
    let mut conn = direct_connection(app).await;
    db_core::with_connection!(conn, |c| c.batch_execute(sql).await.unwrap());
}

/// A call is acknowledged only once its commit has succeeded. On PostgreSQL a one-call append
/// runs as one statement in an implicit transaction, which commits after the statement's row
/// has been sent: the outcome must be read to the end of the exchange.
async fn an_append_whose_commit_fails_is_not_acknowledged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let first = append(&mut s, "c", vec![user("kept")]).await;
    assert_eq!((first.first_seq, first.last_seq), (1, 1));
    for i in 0..8 {
        create(&mut s, &format!("other-{i}")).await;
    }

    refuse_commits(&app, backend, true).await;
    for batch in [
        vec![user("refused")],
        vec![user("refused 1"), user("refused 2")],
    ] {
        let refused = s
            .append_messages(pb::AppendMessagesRequest {
                session_id: "c".into(),
                messages: batch,
                create_if_missing: false,
            })
            .await;
        assert!(
            refused.is_err(),
            "acknowledged without a commit: {refused:?}"
        );
    }
    // Concurrent calls, which the writers may coalesce into one batch: none is acknowledged.
    let calls = (0..8).map(|i| {
        let mut s = app.sessions(&alice());
        async move {
            s.append_messages(pb::AppendMessagesRequest {
                session_id: format!("other-{i}"),
                messages: vec![user("refused")],
                create_if_missing: false,
            })
            .await
        }
    });
    for refused in futures::future::join_all(calls).await {
        assert!(
            refused.is_err(),
            "acknowledged without a commit: {refused:?}"
        );
    }
    let session = s
        .get_session(pb::GetSessionRequest {
            session_id: "c".into(),
            include_deleted: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(session.message_count, 1);
    let stored = walk(&mut s, "c", 10).await;
    assert_eq!(stored.len(), 1);
    for i in 0..8 {
        assert!(walk(&mut s, &format!("other-{i}"), 10).await.is_empty());
    }
    assert_eq!(stored[0].content.as_deref(), Some("kept"));

    refuse_commits(&app, backend, false).await;
    let next = append(&mut s, "c", vec![user("after")]).await;
    assert_eq!((next.first_seq, next.last_seq), (2, 2));
    assert_eq!(
        walk(&mut s, "c", 10)
            .await
            .iter()
            .map(|m| (m.seq, m.content.clone().unwrap_or_default()))
            .collect::<Vec<_>>(),
        vec![(1, "kept".to_string()), (2, "after".to_string())]
    );
}
