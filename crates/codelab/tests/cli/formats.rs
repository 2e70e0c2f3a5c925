//! Format detection and conversion, offline: the real data files and hand-made bad inputs.

use std::path::PathBuf;

use codelab::formats::{
    Detected, ExportFormat, ExportedConversation, FormatError, ImportFormat, Parsed, parse,
    write_export,
};
use codelab_proto::agent::v1::Role;
use serde_json::{Value, json};

fn data(name: &str) -> (String, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/conversations")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is needed by this test: {e}", path.display()));
    (path.display().to_string(), text)
}

fn ok(text: &str, file: &str, format: ImportFormat) -> Parsed {
    parse(text, file, format, None).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn err(text: &str, file: &str, format: ImportFormat) -> FormatError {
    match parse(text, file, format, None) {
        Ok(p) => panic!("{file} should not parse, got {:?}", p.format),
        Err(e) => e,
    }
}

fn roles(p: &Parsed, i: usize) -> Vec<Role> {
    p.conversations[i]
        .messages
        .iter()
        .map(|m| Role::try_from(m.role).unwrap())
        .collect()
}

#[test]
fn sharegpt_file_is_detected_and_mapped() {
    let (file, text) = data("fastchat_dummy_conversation.json");
    let p = ok(&text, &file, ImportFormat::Auto);
    assert_eq!(p.format, Detected::Sharegpt);
    assert_eq!(p.conversations.len(), 500);
    assert_eq!(
        p.conversations
            .iter()
            .map(|c| c.messages.len())
            .sum::<usize>(),
        2000
    );
    let first = &p.conversations[0];
    assert_eq!(first.session_id, "identity_0");
    assert_eq!(first.source_id.as_deref(), Some("identity_0"));
    assert_eq!(first.location, "index 0");
    assert_eq!(first.messages[0].content.as_deref(), Some("Who are you?"));
    assert_eq!(roles(&p, 0)[..2], [Role::User, Role::Assistant]);
    // Canonical `from` values need no metadata.
    assert!(first.messages.iter().all(|m| m.metadata_json.is_empty()));
    assert_eq!(
        Value::Object(first.metadata.clone()),
        json!({"import": {"format": "sharegpt", "file": "fastchat_dummy_conversation.json",
                          "source_id": "identity_0"}})
    );
    // Explicit format gives the same result.
    let explicit = ok(&text, &file, ImportFormat::Sharegpt);
    assert_eq!(explicit.conversations.len(), 500);
}

#[test]
fn mt_bench_questions_and_answers() {
    let (file, text) = data("mt_bench_question.jsonl");
    let q = ok(&text, &file, ImportFormat::Auto);
    assert_eq!(q.format, Detected::MtBench);
    assert_eq!(q.conversations.len(), 80);
    let c = &q.conversations[0];
    assert_eq!(c.session_id, "mtbench-q81");
    assert_eq!(c.location, "line 1");
    assert_eq!(c.metadata["category"], "writing");
    assert_eq!(c.metadata["question_id"], 81);
    assert_eq!(roles(&q, 0), [Role::User, Role::User]);

    let (file, text) = data("mt_bench_gpt4_reference.jsonl");
    let a = ok(&text, &file, ImportFormat::MtBench);
    assert_eq!(a.conversations.len(), 30);
    let c = &a.conversations[0];
    assert_eq!(c.session_id, "mtbench-a101");
    assert_eq!(c.metadata["model_id"], "gpt-4");
    assert!(roles(&a, 0).iter().all(|r| *r == Role::Assistant));
    assert!(
        c.messages[0]
            .content
            .as_deref()
            .unwrap()
            .starts_with("If you have just overtaken")
    );
}

/// Parsing an MT-Bench file and writing its conversations back gives the file byte for byte:
/// every field (`tstamp`, `choices[].index`, `reference` …) and the key order are kept in the
/// session metadata.
#[test]
fn mt_bench_files_are_written_back_byte_identical() {
    for name in ["mt_bench_question.jsonl", "mt_bench_gpt4_reference.jsonl"] {
        let (file, text) = data(name);
        let parsed = ok(&text, &file, ImportFormat::Auto);
        // Through JSON text, as the metadata travels through the server.
        let exported: Vec<_> = parsed
            .conversations
            .iter()
            .map(|c| {
                let metadata = Value::Object(c.metadata.clone()).to_string();
                ExportedConversation {
                    id: c.session_id.clone(),
                    metadata: serde_json::from_str(&metadata).unwrap(),
                    messages: c.messages.clone(),
                }
            })
            .collect();
        let mut out = Vec::new();
        write_export(ExportFormat::MtBench, &exported, false, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        for (i, (back, original)) in out.lines().zip(text.lines()).enumerate() {
            assert_eq!(back, original, "{name} line {}", i + 1);
        }
        assert!(out == text, "{name} is not written back byte-identical");
    }
    let (file, text) = data("mt_bench_question.jsonl");
    let q = ok(&text, &file, ImportFormat::Auto);
    let with_reference = q
        .conversations
        .iter()
        .find(|c| c.session_id == "mtbench-q101")
        .unwrap();
    assert_eq!(
        with_reference.metadata["mt_bench"]["keys"],
        json!(["question_id", "category", "turns", "reference"])
    );
    assert!(with_reference.metadata["mt_bench"]["fields"]["reference"].is_array());
}

/// Sessions that were not imported from MT-Bench are written as questions (user turns) or
/// answers (assistant turns); a mix is refused and nothing is written.
#[test]
fn mt_bench_export_without_layout() {
    let conv = |id: &str, roles: &[Role]| ExportedConversation {
        id: id.into(),
        metadata: serde_json::Map::new(),
        messages: roles
            .iter()
            .enumerate()
            .map(|(i, r)| codelab_proto::agent::v1::Message {
                seq: i as i64 + 1,
                role: *r as i32,
                content: Some(format!("t{i} \u{e9}")),
                ..Default::default()
            })
            .collect(),
    };
    let mut out = Vec::new();
    let both = [
        conv("q", &[Role::User, Role::User]),
        conv("a", &[Role::Assistant]),
    ];
    write_export(ExportFormat::MtBench, &both, false, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"question_id\": \"q\", \"turns\": [\"t0 \\u00e9\", \"t1 \\u00e9\"]}\n\
         {\"question_id\": \"a\", \"choices\": [{\"index\": 0, \"turns\": [\"t0 \\u00e9\"]}]}\n"
    );
    let mut out = Vec::new();
    let mixed = [
        conv("ok", &[Role::User]),
        conv("chat", &[Role::User, Role::Assistant]),
    ];
    let e = write_export(ExportFormat::MtBench, &mixed, false, &mut out).unwrap_err();
    let e = format!("{e:#}");
    assert!(e.contains("`chat`") && e.contains("message 2"), "{e}");
    assert!(out.is_empty(), "nothing written when a session cannot be");
}

#[test]
fn openai_single_conversation_with_tool_calls() {
    let text = json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?", "name": "ana"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        {"role": "assistant", "content": "18 °C in Paris."}
    ])
    .to_string();
    let p = ok(&text, "chat.json", ImportFormat::Auto);
    assert_eq!(p.format, Detected::Openai);
    assert_eq!(p.conversations.len(), 1);
    let c = &p.conversations[0];
    assert_eq!(c.location, "the file");
    assert!(c.source_id.is_none());
    assert_eq!(c.session_id.len(), 36, "a fresh UUIDv7: {}", c.session_id);
    let m = &c.messages;
    assert_eq!(m[1].name, "ana");
    assert_eq!(m[2].content, None);
    assert_eq!(m[2].tool_calls[0].name, "get_weather");
    assert_eq!(m[2].tool_calls[0].arguments_json, "{\"city\":\"Paris\"}");
    assert_eq!(m[3].role, Role::Tool as i32);
    assert_eq!(m[3].tool_call_id, "call_1");

    // Writing it back gives the same JSON.
    let exported = ExportedConversation {
        id: c.session_id.clone(),
        metadata: c.metadata.clone(),
        messages: c.messages.clone(),
    };
    let mut out = Vec::new();
    write_export(ExportFormat::Openai, &[exported], true, &mut out).unwrap();
    let back: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(&text).unwrap());
}

#[test]
fn openai_many_conversations_json_and_jsonl() {
    let many = json!([
        [{"role": "user", "content": "a"}],
        {"id": "conv/2", "messages": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}
    ])
    .to_string();
    let p = ok(&many, "many.json", ImportFormat::Auto);
    assert_eq!(p.format, Detected::Openai);
    assert_eq!(p.conversations.len(), 2);
    assert_eq!(p.conversations[1].session_id, "conv_2");
    assert_eq!(p.conversations[1].source_id.as_deref(), Some("conv/2"));

    let jsonl = "{\"id\": \"x\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n\n\
                 [{\"role\": \"user\", \"content\": \"yo\"}]\n";
    let p = ok(jsonl, "chats.jsonl", ImportFormat::Auto);
    assert_eq!(p.format, Detected::OpenaiJsonl);
    assert_eq!(p.conversations.len(), 2);
    assert_eq!(p.conversations[1].location, "line 3");
    // Without an extension the first character decides.
    assert_eq!(
        ok(jsonl, "chats", ImportFormat::Auto).format,
        Detected::OpenaiJsonl
    );
    assert_eq!(
        ok(&many, "chats", ImportFormat::Auto).format,
        Detected::Openai
    );
}

#[test]
fn prefix_and_sanitizing() {
    let text =
        json!([{"id": "a b/c", "conversations": [{"from": "human", "value": "x"}]}]).to_string();
    let p = parse(&text, "s.json", ImportFormat::Auto, Some("team1:")).unwrap();
    assert_eq!(p.conversations[0].session_id, "team1:a_b_c");
    assert_eq!(p.conversations[0].source_id.as_deref(), Some("a b/c"));
    let e = parse(&text, "s.json", ImportFormat::Auto, Some("bad prefix")).unwrap_err();
    assert_eq!(e.location, "--session-prefix");
}

#[test]
fn sharegpt_keeps_unusual_from_values() {
    let text = json!([{"id": "t", "conversations": [
        {"from": "system", "value": "sys"},
        {"from": "human", "value": "q"},
        {"from": "gpt", "value": ""},
        {"from": "function", "value": "{\"ok\":true}"},
        {"from": "chatgpt", "value": "a"}
    ]}])
    .to_string();
    let p = ok(&text, "t.json", ImportFormat::Auto);
    let m = &p.conversations[0].messages;
    assert_eq!(m[3].role, Role::Tool as i32);
    assert_eq!(m[3].tool_call_id, "sharegpt-turn-3");
    assert_eq!(m[2].content.as_deref(), Some(""));
    let exported = ExportedConversation {
        id: "t".into(),
        metadata: p.conversations[0].metadata.clone(),
        messages: m.clone(),
    };
    let mut out = Vec::new();
    write_export(ExportFormat::Sharegpt, &[exported], false, &mut out).unwrap();
    let back: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(&text).unwrap());
}

#[test]
fn sharegpt_writes_keys_in_fastchat_order() {
    let (file, text) = data("fastchat_dummy_conversation.json");
    let p = ok(&text, &file, ImportFormat::Auto);
    let exported: Vec<_> = p
        .conversations
        .iter()
        .map(|c| ExportedConversation {
            id: c.source_id.clone().unwrap(),
            metadata: c.metadata.clone(),
            messages: c.messages.clone(),
        })
        .collect();
    let mut out = Vec::new();
    write_export(ExportFormat::Sharegpt, &exported, false, &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("[\n  {\n    \"id\": \"identity_0\",\n    \"conversations\": [\n      {\n        \"from\": \"human\",\n        \"value\": "));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        serde_json::from_str::<Value>(&text).unwrap()
    );
}

#[test]
fn missing_role_names_the_message() {
    let text = json!([{"role": "user", "content": "a"}, {"content": "b"}]).to_string();
    let e = err(&text, "c.json", ImportFormat::Auto);
    assert_eq!(e.location, "the file, message at index 1");
    assert_eq!(e.message, "missing field `role`");

    let jsonl = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"content\": \"b\"}]}\n";
    let e = err(jsonl, "c.jsonl", ImportFormat::Auto);
    assert_eq!(e.to_string(), "line 2, messages[1]: missing field `role`");
}

#[test]
fn unknown_roles_are_refused() {
    let text = json!([{"role": "robot", "content": "beep"}]).to_string();
    let e = err(&text, "c.json", ImportFormat::Openai);
    assert!(e.message.contains("unknown role `robot`"), "{e}");
    assert!(e.message.contains("user, assistant, system or tool"), "{e}");

    let text = json!([{"id": "x", "conversations": [{"from": "human", "value": "a"}, {"from": "alien", "value": "b"}]}]).to_string();
    let e = err(&text, "s.json", ImportFormat::Auto);
    assert_eq!(e.location, "index 0, conversations[1]");
    assert!(e.message.contains("unknown `from` value `alien`"), "{e}");
}

#[test]
fn non_array_json_is_refused() {
    let e = err(
        "{\"role\": \"user\",\n \"content\": \"hi\"}",
        "c.json",
        ImportFormat::Auto,
    );
    assert_eq!(e.location, "the file");
    assert!(
        e.message
            .starts_with("expected a JSON array at the top level, found an object"),
        "{e}"
    );
    let e = err("\"hello\"", "c.json", ImportFormat::Openai);
    assert!(e.message.contains("found a string"), "{e}");
    // A pretty-printed object read as JSON Lines says what it is.
    let e = err("{\n\"id\": 1}\n", "c", ImportFormat::Auto);
    assert_eq!(e.location, "line 1");
    assert!(e.message.contains("not JSON Lines"), "{e}");
}

#[test]
fn other_bad_inputs_have_clear_errors() {
    let cases: &[(&str, &str, ImportFormat, &str, &str)] = &[
        ("", "c.json", ImportFormat::Auto, "the file", "is empty"),
        (
            "[1, 2",
            "c.json",
            ImportFormat::Auto,
            "the file",
            "is not valid JSON: EOF while parsing a list at line 1 column 5",
        ),
        (
            "{\"messages\": []}\nnot json\n",
            "c.jsonl",
            ImportFormat::Auto,
            "line 2",
            "is not valid JSON",
        ),
        (
            "[{\"role\": \"tool\", \"content\": \"x\"}]",
            "c.json",
            ImportFormat::Auto,
            "the file, message at index 0",
            "missing field `tool_call_id` (required for role `tool`)",
        ),
        (
            "[{\"role\": \"user\"}]",
            "c.json",
            ImportFormat::Auto,
            "the file, message at index 0",
            "missing field `content`",
        ),
        (
            "[{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]",
            "c.json",
            ImportFormat::Auto,
            "the file, message at index 0",
            "array of content parts",
        ),
        (
            "[{\"role\": 3, \"content\": \"x\"}]",
            "c.json",
            ImportFormat::Auto,
            "the file, message at index 0",
            "field `role` must be a string, found a number",
        ),
        (
            "[{\"id\": \"a\", \"conversations\": [{\"from\": \"human\"}]}]",
            "s.json",
            ImportFormat::Auto,
            "index 0, conversations[0]",
            "missing field `value`",
        ),
        (
            "[{\"id\": \"a\", \"conversations\": {}}]",
            "s.json",
            ImportFormat::Sharegpt,
            "index 0",
            "field `conversations` must be an array, found an object",
        ),
        (
            "[{\"id\": \"a\", \"conversations\": []}, {\"id\": \"a\", \"conversations\": []}]",
            "s.json",
            ImportFormat::Auto,
            "index 1",
            "already used by the conversation at index 0",
        ),
        (
            "{\"category\": \"x\", \"turns\": [\"a\"]}\n",
            "q.jsonl",
            ImportFormat::MtBench,
            "line 1",
            "missing field `question_id`",
        ),
        (
            "{\"question_id\": 1, \"turns\": [\"a\", 2]}\n",
            "q.jsonl",
            ImportFormat::Auto,
            "line 1, turns[1]",
            "must be a string, found a number",
        ),
        (
            "{\"question_id\": 1, \"choices\": []}\n",
            "a.jsonl",
            ImportFormat::Auto,
            "line 1",
            "field `choices` is empty",
        ),
        (
            "[{\"foo\": 1}]",
            "c.json",
            ImportFormat::Auto,
            "index 0",
            "cannot tell the format of an object",
        ),
        (
            "[[{\"role\": \"user\", \"content\": \"a\"}], 5]",
            "c.json",
            ImportFormat::Openai,
            "index 1",
            "expected a conversation",
        ),
        (
            "[{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"function\": {}}]}]",
            "c.json",
            ImportFormat::Auto,
            "the file, message at index 0, tool_calls[0], function",
            "missing field `name`",
        ),
        (
            "[{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\"}}]}]",
            "c.json",
            ImportFormat::Auto,
            "the file, message at index 0, tool_calls[0]",
            "missing field `id`",
        ),
        (
            "[{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"function\": {\"name\": \"f\", \"arguments\": \"{oops\"}}]}]",
            "c.json",
            ImportFormat::Auto,
            "the file, message at index 0, tool_calls[0], function",
            "field `arguments` is not valid JSON text",
        ),
        (
            "[{\"role\": \"user\", \"content\": \"x\", \"tool_calls\": [{\"id\": \"c\", \"function\": {\"name\": \"f\"}}]}]",
            "c.json",
            ImportFormat::Auto,
            "the file, message at index 0",
            "only allowed on role `assistant`, not `user`",
        ),
    ];
    for (text, file, format, location, message) in cases {
        let e = err(text, file, *format);
        assert_eq!(&e.location, location, "{text}: {e}");
        assert!(
            e.message.contains(message),
            "{text}: got `{e}`, expected `{message}`"
        );
    }
}

#[test]
fn empty_array_imports_nothing() {
    let p = ok("[]", "c.json", ImportFormat::Auto);
    assert!(p.conversations.is_empty());
}
