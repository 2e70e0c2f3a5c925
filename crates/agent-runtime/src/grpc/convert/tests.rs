//! Unit tests of request validation and conversion.

use super::*;
use crate::error::{Error, Result};
use crate::model::NewMessage;
use codelab_proto::agent::v1 as pb;

const MAX: usize = 1024 * 1024;

fn msg(role: pb::Role) -> pb::Message {
    pb::Message {
        role: role as i32,
        content: Some("hi".into()),
        ..Default::default()
    }
}

#[test]
fn page_size_rules() {
    assert_eq!(page_size("page_size", 0).unwrap(), 50);
    assert_eq!(page_size("page_size", 5000).unwrap(), 1000);
    assert_eq!(page_size("page_size", 7).unwrap(), 7);
    assert!(page_size("page_size", -1).is_err());
}

#[test]
fn session_ids() {
    assert!(session_id("session_id", "identity_0").is_ok());
    assert!(session_id("session_id", "").is_err());
    assert!(session_id("session_id", "a b").is_err());
    assert!(session_id("session_id", &"x".repeat(129)).is_err());
    assert_eq!(new_session_id("session_id", "").unwrap().len(), 36);
}

#[test]
fn agent_names() {
    assert!(agent_name("to_agent", "coder").is_ok());
    assert!(agent_name("to_agent", "Coder").is_err());
    assert!(agent_name("to_agent", "").is_err());
    assert!(agent_name("to_agent", &"a".repeat(65)).is_err());
}

#[test]
fn message_rules_name_the_field() {
    let field = |r: Result<NewMessage>| match r {
        Err(Error::InvalidArgument { field, .. }) => field,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    assert_eq!(
        field(message(0, msg(pb::Role::Unspecified), MAX)),
        "messages[0].role"
    );
    let mut m = msg(pb::Role::User);
    m.content = None;
    assert_eq!(field(message(1, m, MAX)), "messages[1].content");
    assert_eq!(
        field(message(2, msg(pb::Role::Tool), MAX)),
        "messages[2].tool_call_id"
    );
    let mut m = msg(pb::Role::User);
    m.metadata_json = "[1]".into();
    assert_eq!(field(message(0, m, MAX)), "messages[0].metadata_json");
    let mut m = msg(pb::Role::Assistant);
    m.tool_calls.push(pb::ToolCall {
        id: "c".into(),
        r#type: String::new(),
        name: "f".into(),
        arguments_json: "{oops".into(),
    });
    assert_eq!(
        field(message(0, m, MAX)),
        "messages[0].tool_calls[0].arguments_json"
    );
}

#[test]
fn nul_is_refused_in_every_text_and_json_field_naming_it() {
    let field = |r: Result<NewMessage>| match r {
        Err(Error::InvalidArgument { field, description }) => {
            assert!(description.contains("U+0000"), "{description}");
            field
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    let mut m = msg(pb::Role::User);
    m.content = Some("a\0b".into());
    assert_eq!(field(message(3, m, MAX)), "messages[3].content");
    let mut m = msg(pb::Role::User);
    m.name = "n\0".into();
    assert_eq!(field(message(0, m, MAX)), "messages[0].name");
    let mut m = msg(pb::Role::Tool);
    m.tool_call_id = "\0".into();
    assert_eq!(field(message(0, m, MAX)), "messages[0].tool_call_id");
    let mut m = msg(pb::Role::User);
    m.metadata_json = r#"{"k":"x\u0000y"}"#.into();
    assert_eq!(field(message(1, m, MAX)), "messages[1].metadata_json");
    let mut m = msg(pb::Role::User);
    m.metadata_json = r#"{"\u0000":1}"#.into();
    assert_eq!(field(message(1, m, MAX)), "messages[1].metadata_json");
    for (id, kind, name, arguments, expected) in [
        ("c\0", "", "f", "{}", "id"),
        ("c", "fn\0", "f", "{}", "type"),
        ("c", "", "f\0", "{}", "name"),
        ("c", "", "f", r#"{"a":["\u0000"]}"#, "arguments_json"),
    ] {
        let mut m = msg(pb::Role::Assistant);
        m.tool_calls.push(pb::ToolCall {
            id: id.into(),
            r#type: kind.into(),
            name: name.into(),
            arguments_json: arguments.into(),
        });
        assert_eq!(
            field(message(2, m, MAX)),
            format!("messages[2].tool_calls[0].{expected}")
        );
    }
    // An escaped backslash before `u0000` is text, not NUL.
    let mut m = msg(pb::Role::User);
    m.metadata_json = r#"{"k":"\\u0000"}"#.into();
    assert!(message(0, m, MAX).is_ok());
    assert!(text("title", "a\0", 10).is_err());
    assert!(free_text("reason", "\0".into()).is_err());
    assert!(json_value("arguments_json", r#""\u0000""#).is_err());
    let entry = pb::AgentHistoryEntry {
        to_agent: "coder".into(),
        reason: "why\0".into(),
        ..Default::default()
    };
    match history_entry(4, entry) {
        Err(Error::InvalidArgument { field, .. }) => {
            assert_eq!(field, "agent_history[4].reason")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn message_size_counts_content_tool_calls_and_metadata() {
    let mut m = msg(pb::Role::Assistant);
    m.content = Some("x".repeat(60));
    m.metadata_json = format!("{{\"k\":\"{}\"}}", "m".repeat(20));
    m.tool_calls.push(pb::ToolCall {
        id: "c".into(),
        r#type: "function".into(),
        name: "f".into(),
        arguments_json: "a".repeat(10),
    });
    let size = 60 + 28 + (1 + 8 + 1 + 10);
    assert!(message_size(0, &m, size).is_ok());
    match message(4, m.clone(), size - 1) {
        Err(Error::MessageTooLarge {
            field,
            size_bytes,
            limit_bytes,
        }) => {
            assert_eq!(field, "messages[4].content");
            assert_eq!((size_bytes, limit_bytes), (size, size - 1));
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    m.content = Some(String::new());
    m.tool_calls[0].arguments_json = "a".repeat(100);
    match message_size(0, &m, 50) {
        Err(Error::MessageTooLarge { field, .. }) => {
            assert_eq!(field, "messages[0].tool_calls")
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_are_counted_when_zero_and_kept_otherwise() {
    let counter = crate::tokenizer::Counter::new(crate::tokenizer::Encoding::Cl100kBase, 1);
    let sent = message(0, msg(pb::Role::User), MAX).unwrap();
    assert_eq!(sent.token_count, 0, "validation counts nothing");
    let mut m = msg(pb::Role::User);
    m.token_count = 42;
    let kept = message(1, m, MAX).unwrap();
    let counted = counter.fill_missing(vec![sent, kept]).await.unwrap();
    assert_eq!(counted[0].token_count, 1);
    assert_eq!(counted[1].token_count, 42);
}

#[test]
fn timestamps_round_trip_and_reject_garbage() {
    let ts = prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 123_456_000,
    };
    let t = timestamp("t", Some(&ts)).unwrap().unwrap();
    assert_eq!(to_timestamp(t), ts);
    assert!(
        timestamp(
            "t",
            Some(&prost_types::Timestamp {
                seconds: 0,
                nanos: -1
            })
        )
        .is_err()
    );
    assert!(
        timestamp(
            "t",
            Some(&prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0
            })
        )
        .is_err()
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// JSON-ish text: valid objects, valid non-objects, and broken fragments.
    fn json_text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("{}".to_owned()),
            "\\{\"[a-z]{1,8}\": (\"[^\"\\\\]{0,20}\"|[0-9]{1,6}|null|true)\\}",
            "\\PC{0,60}",
            Just("[1,2".to_owned()),
            Just("{\"a\": {\"b\": [1, {\"c\": null}]}}".to_owned()),
        ]
    }

    fn tool_call() -> impl Strategy<Value = pb::ToolCall> {
        ("\\PC{0,40}", "\\PC{0,10}", "\\PC{0,80}", json_text()).prop_map(
            |(id, kind, name, arguments_json)| pb::ToolCall {
                id,
                r#type: kind,
                name,
                arguments_json,
            },
        )
    }

    prop_compose! {
        fn message()(
            role in -2i32..8,
            content in proptest::option::of("\\PC{0,200}"),
            name in "\\PC{0,80}",
            tool_call_id in "\\PC{0,80}",
            tool_calls in proptest::collection::vec(tool_call(), 0..4),
            token_count in any::<i32>(),
            metadata_json in json_text(),
            ts in proptest::option::of((any::<i64>(), any::<i32>())),
        ) -> pb::Message {
            pb::Message {
                seq: 0,
                role,
                content,
                name,
                tool_call_id,
                tool_calls,
                token_count,
                metadata_json,
                timestamp: ts.map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
            }
        }
    }

    proptest! {
        // 3,000 cases in every test run; `PROPTEST_CASES=N` runs N instead (longer runs).
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000),
        ))]

        /// Any message a client can encode is accepted or refused with INVALID_ARGUMENT
        /// naming a field of `messages[i]`; never a panic, never a half-valid message.
        #[test]
        fn any_message_is_validated_without_panicking(m in message(), i in 0usize..5) {
            match super::super::message(i, m, 1024 * 1024) {
                Ok(new) => {
                    prop_assert!(new.content.is_some() || !new.tool_calls.is_empty());
                    prop_assert!(!new.content.unwrap_or_default().contains('\0'));
                    if let Some(meta) = &new.metadata_json {
                        let parsed: serde_json::Value = serde_json::from_str(meta).unwrap();
                        prop_assert!(parsed.is_object());
                    }
                    prop_assert!(new.token_count >= 0);
                }
                Err(Error::InvalidArgument { field, .. }) => {
                    prop_assert!(field.starts_with(&format!("messages[{i}]")), "{field}");
                }
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }

        /// Ids and names of any text: validated, never a panic.
        #[test]
        fn ids_and_names_never_panic(s in "\\PC{0,300}", n in any::<i32>()) {
            let _ = session_id("session_id", &s);
            let _ = new_session_id("new_session_id", &s);
            let _ = agent_name("agent_name", &s);
            let _ = json_object("metadata_json", &s);
            let _ = json_value("value", &s);
            let _ = page_size("page_size", n);
            let _ = role("role", n);
            let _ = decision("decision", n);
        }
    }
}
