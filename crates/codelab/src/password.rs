//! Reading a password without putting it on the command line: an environment variable, one
//! line of stdin, or a no-echo prompt on the terminal (rpassword), in that order.

use anyhow::Context as _;
use secrecy::{ExposeSecret as _, SecretString};
use std::io::BufRead as _;

/// Where a password comes from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Environment variable read first, e.g. `CODELAB_PASSWORD`.
    pub env: &'a str,
    /// Read one line of stdin (`--password-stdin`) instead of prompting.
    pub stdin: bool,
    /// The terminal prompt, e.g. `Password for admin: `.
    pub prompt: &'a str,
}

/// The password from `source.env` when set and non-empty, else one line of stdin when
/// `source.stdin`, else a no-echo prompt on the terminal. A trailing `\n` / `\r\n` is removed.
///
/// # Errors
/// An empty password, unreadable stdin, or no terminal to prompt on (the message says which
/// alternatives exist).
pub fn read(source: Source<'_>) -> anyhow::Result<SecretString> {
    let password = if let Some(value) = std::env::var(source.env).ok().filter(|v| !v.is_empty()) {
        SecretString::from(value)
    } else if source.stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        let typed = rpassword::prompt_password(source.prompt).with_context(|| {
            format!(
                "cannot prompt for a password (no terminal?); set {} or use --password-stdin",
                source.env
            )
        })?;
        SecretString::from(typed)
    };
    anyhow::ensure!(
        !password.expose_secret().is_empty(),
        "the password is empty"
    );
    Ok(password)
}
