//! End to end: a real agent-runtime on `127.0.0.1:0` with its own database (SQLite file or fresh
//! PostgreSQL database), driven through the same functions the `codelab` subcommands run.

use std::path::{Path, PathBuf};

use clap::Parser as _;
use codelab::Cli;
use codelab_proto::agent::v1::{GetSessionRequest, GetSessionStatsRequest};
use db_core::testing::TestDb;
use serde_json::{Value, json};

use crate::support::services::{self, Running};

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("codelab").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

async fn import(server: &Running, file: &Path, extra: &[&str]) {
    let file = file.to_str().unwrap();
    let mut args = vec!["sessions", "import", file, "--addr", &server.url];
    args.extend_from_slice(extra);
    codelab::run(cli(&args))
        .await
        .unwrap_or_else(|e| panic!("import {file}: {e:#}"));
}

async fn export(server: &Running, out: &Path, args: &[&str]) -> String {
    let out_s = out.to_str().unwrap();
    let mut all = vec!["sessions", "export", "--addr", &server.url, "--out", out_s];
    all.extend_from_slice(args);
    codelab::run(cli(&all))
        .await
        .unwrap_or_else(|e| panic!("export {args:?}: {e:#}"));
    std::fs::read_to_string(out).unwrap()
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn round_trip(db: TestDb) {
    let server = services::agent_runtime_without_auth(db).await;
    let conn = services::connect(&server.url).await;
    let dir = tempfile::tempdir().unwrap();

    // ShareGPT: import, export everything, compare with the original, order included.
    let sharegpt = services::conversation_file("fastchat_dummy_conversation.json");
    import(&server, &sharegpt, &[]).await;
    let exported = export(
        &server,
        &dir.path().join("all.json"),
        &["--all", "--format", "sharegpt"],
    )
    .await;
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(&sharegpt).unwrap()).unwrap();
    let back: Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(back.as_array().unwrap().len(), 500);
    assert_eq!(back, original, "ShareGPT round trip differs");
    // Byte for byte, so key order (`id`, `conversations`; `from`, `value`) and layout too: the
    // file was written by Python's `json.dump(indent=2)`, which serde_json's pretty printer
    // matches for this ASCII-only data.
    let original_text = std::fs::read_to_string(&sharegpt).unwrap();
    assert!(
        exported == original_text,
        "ShareGPT export is not byte-identical to the original"
    );

    // One session, both single-session forms.
    let one = export(
        &server,
        &dir.path().join("one.json"),
        &["identity_3", "--format", "sharegpt"],
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&one).unwrap(),
        json!([original[3].clone()])
    );
    let one = export(
        &server,
        &dir.path().join("one-openai.json"),
        &["identity_3"],
    )
    .await;
    let one: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(one[0]["role"], "user");
    assert_eq!(one[0]["content"], original[3]["conversations"][0]["value"]);
    assert_eq!(one[1]["role"], "assistant");

    // The summary figures come from the server.
    let stats = conn
        .sessions()
        .get_session_stats(GetSessionStatsRequest {
            session_id: "identity_0".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stats.message_count,
        original[0]["conversations"].as_array().unwrap().len() as i64
    );
    assert!(stats.total_tokens > 0);

    // Importing again is refused, or skipped when asked.
    let again = codelab::run(cli(&[
        "sessions",
        "import",
        sharegpt.to_str().unwrap(),
        "--addr",
        &server.url,
    ]))
    .await;
    let e = format!("{:#}", again.unwrap_err());
    assert!(
        e.contains("index 0") && e.contains("identity_0") && e.contains("already exists"),
        "{e}"
    );
    import(&server, &sharegpt, &["--if-exists", "skip"]).await;

    // A prefix makes new sessions, and export still writes the original ids, even one that had
    // to be sanitized into a session id.
    let mut small = original.as_array().unwrap()[5..8].to_vec();
    small[2]["id"] = json!("odd id/7");
    let small_path = dir.path().join("small.json");
    std::fs::write(&small_path, Value::Array(small.clone()).to_string()).unwrap();
    import(&server, &small_path, &["--session-prefix", "copy-"]).await;
    let copy = export(
        &server,
        &dir.path().join("copy.json"),
        &["copy-odd_id_7", "--format", "sharegpt"],
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&copy).unwrap(),
        json!([small[2].clone()])
    );

    // MT-Bench questions and reference answers.
    let questions = services::conversation_file("mt_bench_question.jsonl");
    let answers = services::conversation_file("mt_bench_gpt4_reference.jsonl");
    import(&server, &questions, &[]).await;
    import(&server, &answers, &[]).await;
    let all_path = dir.path().join("all.jsonl");
    export(&server, &all_path, &["--all", "--format", "openai-jsonl"]).await;
    let exported: std::collections::HashMap<String, Value> = read_jsonl(&all_path)
        .into_iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("mtbench-"))
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["messages"].clone()))
        .collect();
    assert_eq!(exported.len(), 110);
    for q in read_jsonl(&questions) {
        let id = format!("mtbench-q{}", q["question_id"]);
        let expected: Vec<Value> = q["turns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| json!({"role": "user", "content": t}))
            .collect();
        assert_eq!(exported[&id], Value::Array(expected), "{id}");
    }
    for a in read_jsonl(&answers) {
        let id = format!("mtbench-a{}", a["question_id"]);
        let expected: Vec<Value> = a["choices"][0]["turns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| json!({"role": "assistant", "content": t}))
            .collect();
        assert_eq!(exported[&id], Value::Array(expected), "{id}");
    }
    let session = conn
        .sessions()
        .get_session(GetSessionRequest {
            session_id: "mtbench-q81".into(),
            include_deleted: false,
        })
        .await
        .unwrap()
        .into_inner();
    let meta: Value = serde_json::from_str(&session.metadata_json).unwrap();
    assert_eq!(meta["category"], "writing");
    assert_eq!(meta["question_id"], 81);
    assert_eq!(meta["import"]["format"], "mt-bench");
    let session = conn
        .sessions()
        .get_session(GetSessionRequest {
            session_id: "mtbench-a101".into(),
            include_deleted: false,
        })
        .await
        .unwrap()
        .into_inner();
    let meta: Value = serde_json::from_str(&session.metadata_json).unwrap();
    assert_eq!(meta["model_id"], "gpt-4");

    // OpenAI chat with tool calls survives the server.
    let chat = json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?", "name": "ana"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "content": "18 C", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "18 °C in Paris."}
    ]);
    let chat_path = dir.path().join("chat.json");
    std::fs::write(
        &chat_path,
        json!([{"id": "chat-1", "messages": chat}]).to_string(),
    )
    .unwrap();
    import(&server, &chat_path, &[]).await;
    let back = export(
        &server,
        &dir.path().join("chat-out.json"),
        &["chat-1", "--format", "openai"],
    )
    .await;
    assert_eq!(serde_json::from_str::<Value>(&back).unwrap(), chat);

    // A conversation the server refuses leaves no session behind, also when its first batch
    // of 500 messages was already stored.
    for (id, good) in [("refused-small", 1), ("refused-large", 500)] {
        let mut messages: Vec<Value> = (0..good)
            .map(|i| json!({"role": "user", "content": format!("m{i}")}))
            .collect();
        // Valid for the file format, refused by the server (names are at most 255 characters).
        messages.push(json!({"role": "user", "content": "x", "name": "n".repeat(300)}));
        let path = dir.path().join(format!("{id}.json"));
        std::fs::write(&path, json!([{"id": id, "messages": messages}]).to_string()).unwrap();
        let refused = codelab::run(cli(&[
            "sessions",
            "import",
            path.to_str().unwrap(),
            "--addr",
            &server.url,
        ]))
        .await;
        let e = format!("{:#}", refused.unwrap_err());
        assert!(
            e.contains("index 0") && e.contains("INVALID_ARGUMENT"),
            "{e}"
        );
        assert!(e.contains("the session was removed again"), "{e}");
        let gone = conn
            .sessions()
            .get_session(GetSessionRequest {
                session_id: id.into(),
                include_deleted: true,
            })
            .await
            .unwrap_err();
        assert_eq!(gone.code(), tonic::Code::NotFound, "{id}");
    }

    // The table lists what is there.
    codelab::run(cli(&[
        "sessions",
        "list",
        "--addr",
        &server.url,
        "--page-size",
        "5",
    ]))
    .await
    .unwrap();

    // An unknown session is a clear error.
    let missing = codelab::run(cli(&["sessions", "export", "nope", "--addr", &server.url])).await;
    assert!(format!("{:#}", missing.unwrap_err()).contains("NOT_FOUND"));

    server.stop().await;
}

/// Every conversation file of `testdata/conversations/`, each imported into its own fresh
/// server and exported back with `--all` in the format it was detected as, is byte-identical
/// to the original.
async fn every_data_file_exports_back_byte_identical(backend: db_core::Backend) {
    use codelab::formats::{Detected, ImportFormat};
    let dir = tempfile::tempdir().unwrap();
    let files = data_files();
    assert!(files.len() >= 3, "conversation files found: {files:?}");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let detected = codelab::formats::parse(&text, &name, ImportFormat::Auto, None)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .format;
        let format = match detected {
            Detected::Openai => "openai",
            Detected::OpenaiJsonl => "openai-jsonl",
            Detected::Sharegpt => "sharegpt",
            Detected::MtBench => "mt-bench",
        };
        let db = match backend {
            db_core::Backend::Sqlite => TestDb::sqlite(),
            db_core::Backend::Postgres => TestDb::postgres().await,
        };
        let server = services::agent_runtime_without_auth(db).await;
        services::connect(&server.url).await;
        import(&server, &path, &[]).await;
        let exported = export(
            &server,
            &dir.path().join(&name),
            &["--all", "--format", format],
        )
        .await;
        if exported != text {
            let line = exported
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .map_or("the end".to_owned(), |i| format!("line {}", i + 1));
            panic!("{name} ({format}) exported differs from the original, first at {line}");
        }
        server.stop().await;
    }
}

/// The conversation files (`.json`, `.jsonl`) of `testdata/conversations/`, sorted.
fn data_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(services::conversation_file(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// `testdata/conversations/` holds unchanged copies of the shared data set: every data file of
/// `../shared/data/` (next to the repository, when it is there) is present with the same bytes.
#[test]
fn testdata_matches_the_shared_data_set() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let Ok(entries) = std::fs::read_dir(&shared) else {
        eprintln!("{} not found: nothing to compare", shared.display());
        return;
    };
    let mut compared = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The READMEs describe their own folder and may differ.
        if !path.is_file() || name.eq_ignore_ascii_case("README.md") {
            continue;
        }
        let copy = services::conversation_file(&name);
        let ours = std::fs::read(&copy)
            .unwrap_or_else(|e| panic!("{} has no copy of {name}: {e}", copy.display()));
        assert!(
            ours == std::fs::read(&path).unwrap(),
            "{} differs from {}",
            copy.display(),
            path.display()
        );
        compared += 1;
    }
    assert!(compared > 0, "no data files in {}", shared.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_file_exports_back_byte_identical_sqlite() {
    every_data_file_exports_back_byte_identical(db_core::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_file_exports_back_byte_identical_postgres() {
    every_data_file_exports_back_byte_identical(db_core::Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_sqlite() {
    round_trip(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_postgres() {
    round_trip(TestDb::postgres().await).await;
}
