//! Writing results to stdout without panicking when the reader goes away.
//!
//! `println!` panics when stdout is a closed pipe (`codelab sessions list | head -5`). Every
//! subcommand writes its results through [`print`] instead, which returns the I/O error; `main`
//! treats a broken pipe as the reader having seen enough and exits with status 0, as `ls`,
//! `grep` or `git log` do.

use std::io::{self, Write as _};

/// Writes `text` to stdout as is (no newline added) and flushes it.
///
/// # Errors
/// The write error, e.g. [`io::ErrorKind::BrokenPipe`] when the reading end of a pipe closed.
pub fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(mark_stdout)
}

/// Writes `line` and a newline to stdout and flushes it.
///
/// # Errors
/// As [`print`].
pub fn println(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(mark_stdout)
}

/// Marks a broken pipe on stdout, so that [`is_broken_pipe`] tells it apart from a broken
/// pipe anywhere else (a server closing a connection is a failure, not a reader that has seen
/// enough).
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout closed")
    }
}

impl std::error::Error for StdoutClosed {}

fn mark_stdout(error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        error
    }
}

/// A CLI's exit code for `result`: success, also when stdout's reader went away
/// ([`is_broken_pipe`]: `codelab sessions list | head -5` has what it wanted); otherwise the
/// whole context chain on one line of stderr ("error: importing x: line 3: …") and failure.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether `error` (or any of its causes) is a broken pipe on stdout, written by [`print`] or
/// [`println`]: the process should stop quietly with success. A broken pipe of any other
/// stream (a network connection the server closed) is not.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// `rows` under `header` as a text table (comfy-table, no borders, as `kubectl get` prints),
/// ending in a newline.
pub fn table<R, C>(header: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = Vec<C>>,
    C: Into<comfy_table::Cell>,
{
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_owned()).collect();
    // The borderless preset still pads the first column; start every line at column 0.
    let indent = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut text: String = lines
        .iter()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or_default()))
        .collect();
    if text.is_empty() {
        text.push('\n');
    }
    text
}

/// `value` as pretty JSON plus a newline.
pub fn json(value: &serde_json::Value) -> String {
    // Serializing a `Value` cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Prints one page of an AIP-158 list: with `as_json`, `{"<kind>": items, "next_page_token",
/// "total_size"}`; otherwise `table`, then `"<shown> of <total_size> <kind>"` and, when more
/// follow, the `--page-token` to pass for the next page.
///
/// # Errors
/// A closed stdout.
pub fn print_page(
    kind: &str,
    items: Vec<serde_json::Value>,
    table: String,
    total_size: i64,
    next_page_token: &str,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        let mut value = serde_json::Map::new();
        value.insert(kind.to_owned(), serde_json::Value::Array(items));
        value.insert("next_page_token".to_owned(), next_page_token.into());
        value.insert("total_size".to_owned(), total_size.into());
        return print(&json(&serde_json::Value::Object(value)));
    }
    let mut text = table;
    text.push_str(&format!("{} of {total_size} {kind}\n", items.len()));
    if !next_page_token.is_empty() {
        text.push_str(&format!("next page: --page-token {next_page_token}\n"));
    }
    print(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_stdout_counts_as_the_reader_leaving() {
        let stdout = anyhow::Error::from(mark_stdout(io::ErrorKind::BrokenPipe.into()));
        assert!(is_broken_pipe(&stdout.context("printing")));
        // A connection a server closed is a failure, whatever its error kind.
        let network = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(!is_broken_pipe(&network.context("cannot connect")));
    }

    #[test]
    fn table_aligns_columns_without_borders() {
        let text = table(
            &["ID", "NAME"],
            [vec!["1", "alpha"], vec!["22", "b"]].map(|r| r.into_iter().collect::<Vec<_>>()),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("ID") && lines[0].contains("NAME"),
            "{text}"
        );
        let col = lines[0].find("NAME").unwrap();
        assert_eq!(lines[1].find("alpha"), Some(col), "{text}");
        assert_eq!(lines[2].find('b'), Some(col), "{text}");
    }
}
