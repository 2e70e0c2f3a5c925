//! Token counting of messages sent without a count: the same counts as OpenAI's tiktoken on
//! real conversations, the configured encoding (`AGENT_RUNTIME__TOKENIZER`) named in the
//! session stats, and adversarial text counted without failing.

use crate::backend_tests;
use crate::helpers::*;
use agent_runtime::tokenizer::Encoding;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;

backend_tests!(
    the_configured_encoding_counts_and_the_stats_name_it,
    a_message_of_one_repeated_character_is_counted
);

const CONVERSATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/conversations");

/// Every message text of the conversation files: ShareGPT `conversations[].value`, MT-Bench
/// question `turns[]` and reference answers' `choices[].turns[]`.
fn conversation_texts() -> Vec<String> {
    let read = |name: &str| std::fs::read_to_string(format!("{CONVERSATIONS}/{name}")).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    };
    let sharegpt: serde_json::Value =
        serde_json::from_str(&read("fastchat_dummy_conversation.json")).unwrap();
    let mut texts: Vec<String> = sharegpt
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["conversations"].as_array().unwrap().clone())
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    for line in read("mt_bench_question.jsonl").lines() {
        let question: serde_json::Value = serde_json::from_str(line).unwrap();
        texts.extend(strings(&question["turns"]));
    }
    for line in read("mt_bench_gpt4_reference.jsonl").lines() {
        let answer: serde_json::Value = serde_json::from_str(line).unwrap();
        for choice in answer["choices"].as_array().unwrap() {
            texts.extend(strings(&choice["turns"]));
        }
    }
    texts
}

/// On every message of `testdata/conversations/`, each encoding counts exactly what OpenAI's
/// tiktoken (the `tiktoken-rs` port) counts.
#[test]
fn counts_equal_tiktoken_on_every_conversation_message() {
    let texts = conversation_texts();
    assert_eq!(
        texts.len(),
        2_220,
        "2,000 ShareGPT turns, 160 questions, 60 answers"
    );
    let encodings = [
        (Encoding::Cl100kBase, tiktoken_rs::cl100k_base_singleton()),
        (Encoding::O200kBase, tiktoken_rs::o200k_base_singleton()),
    ];
    for (encoding, tiktoken) in encodings {
        let differ: Vec<_> = texts
            .iter()
            .filter(|t| encoding.count_text(t) != tiktoken.encode_ordinary(t).len())
            .map(|t| t.chars().take(40).collect::<String>())
            .collect();
        assert!(differ.is_empty(), "{}: {differ:?}", encoding.name());
    }
}

/// Each encoding counts a message sent without a count in its own vocabulary, keeps a count
/// the client sent, and GetSessionStats names it; `none` stores 0.
async fn the_configured_encoding_counts_and_the_stats_name_it(backend: Backend) {
    // Reference counts from OpenAI's tiktoken.
    for (encoding, expected) in [
        (Encoding::Cl100kBase, 14),
        (Encoding::O200kBase, 9),
        (Encoding::None, 0),
    ] {
        let app = TestApp::spawn_with(backend, |c| c.tokenizer = encoding).await;
        let mut s = app.sessions(&alice());
        let sent = pb::Message {
            token_count: 40,
            ..user("counted by the client")
        };
        append(&mut s, "t", vec![user("Привет, мир! 你好，世界"), sent]).await;
        let stored = walk(&mut s, "t", 10).await;
        assert_eq!(
            (stored[0].token_count, stored[1].token_count),
            (expected, 40),
            "{}",
            encoding.name()
        );
        let stats = s
            .get_session_stats(pb::GetSessionStatsRequest {
                session_id: "t".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stats.token_encoding, encoding.name());
        assert_eq!(stats.total_tokens, i64::from(expected) + 40);
        app.shutdown().await;
    }
}

/// Nearly 1 MiB of one repeated whitespace or letter — where backtracking tokenizers take
/// seconds or give up — is counted like any other message.
async fn a_message_of_one_repeated_character_is_counted(backend: Backend) {
    for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
        let app = TestApp::spawn_with(backend, |c| c.tokenizer = encoding).await;
        let mut s = app.sessions(&alice());
        for (i, text) in [" ".repeat(1_000_000), "\t".repeat(1_000_000)]
            .iter()
            .enumerate()
        {
            let answer = append(&mut s, "long", vec![user(text)]).await;
            assert_eq!(answer.last_seq, i as i64 + 1);
        }
        let stored = walk(&mut s, "long", 10).await;
        for m in &stored {
            let text = m.content.as_deref().unwrap();
            assert_eq!(m.token_count as usize, encoding.count_text(text));
            assert!(m.token_count > 0);
        }
        app.shutdown().await;
    }
}
