//! `AGENT_RUNTIME__CORS__ALLOWED_ORIGINS` as the service reads it: a comma list from the
//! environment, a TOML array from a file, each entry checked at start.

use agent_runtime::config::Config;

const VAR: &str = "AGENT_RUNTIME__CORS__ALLOWED_ORIGINS";

/// A TOML file holding `cors`, `allowed_origins = <value>`.
fn toml_file(value: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
    std::fs::write(file.path(), format!("[cors]\nallowed_origins = {value}\n")).unwrap();
    file
}

#[test]
fn a_toml_array_or_comma_list_is_read_and_a_bad_origin_named() {
    let array = toml_file(r#"["https://app.example.com", "http://localhost:3000"]"#);
    let config = Config::load(Some(array.path())).unwrap();
    assert_eq!(
        config.cors.allowed_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
    let comma = toml_file(r#""https://app.example.com, http://localhost:3000""#);
    let same = Config::load(Some(comma.path())).unwrap();
    assert_eq!(same.cors, config.cors);
    assert!(
        Config::default().cors.allowed_origins.is_empty(),
        "no CORS by default"
    );

    let bad = toml_file(r#"["https://app.example.com/"]"#);
    let err = Config::load(Some(bad.path())).unwrap_err().to_string();
    assert!(
        err.contains(VAR) && err.contains("https://app.example.com/"),
        "{err}"
    );
    let star = toml_file(r#"["*", "https://app.example.com"]"#);
    let err = Config::load(Some(star.path())).unwrap_err().to_string();
    assert!(err.contains(VAR) && err.contains("only entry"), "{err}");
}

/// The binary refuses to start on a bad entry of the comma-separated variable, naming the
/// variable and the entry (and only that entry: the good one before it parsed).
#[test]
fn the_environment_takes_a_comma_list() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_agent-runtime"))
        .current_dir(dir.path())
        .env(VAR, "http://127.0.0.1:5173, https://app.example.com/path")
        .env("AGENT_RUNTIME__DB_URL", "sqlite::memory:")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{VAR}: \"https://app.example.com/path\"")),
        "{stderr}"
    );
    assert!(!stderr.contains("127.0.0.1:5173"), "{stderr}");
}
