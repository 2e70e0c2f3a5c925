//! The first-start credentials file.
//!
//! When the seeded `admin` password or the `codelab-internal` secret is not configured, seeding
//! generates it and writes it to this file — mode 0600, owner only — instead of any output
//! stream: a container's stderr is its log, and log pipelines must never receive a secret
//! (OWASP Logging Cheat Sheet, "Data to exclude"). Only the file's path is logged.
//!
//! The path is `AUTH_SERVICE__CREDENTIALS_FILE`, else [`FILE_NAME`] next to a SQLite database
//! file, else `data/`[`FILE_NAME`] (the data volume of the container image). The file is
//! opened before a generated credential is stored, so a path that cannot be written stops the
//! start before an account exists whose password nobody could read.
//!
//! Format, one `name=value` a line after `#` comments:
//!
//! ```text
//! # auth-service first-start credentials, 2026-01-31T12:00:00Z. …
//! admin_password=…
//! internal_client_secret=…
//! ```

use secrecy::{ExposeSecret, SecretString};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// File name of the default credentials file.
pub const FILE_NAME: &str = "auth-credentials.txt";

/// Key of the generated admin password in the file.
pub const ADMIN_PASSWORD_KEY: &str = "admin_password";

/// Key of the generated `codelab-internal` secret in the file.
pub const INTERNAL_CLIENT_SECRET_KEY: &str = "internal_client_secret";

/// Where generated first-start credentials are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsFile {
    path: PathBuf,
}

impl CredentialsFile {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> CredentialsFile {
        CredentialsFile { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the file (and its folder) with mode 0600 if it is missing, and checks it can
    /// be written. Returns whether it created the file.
    ///
    /// # Errors
    /// The I/O error of creating or opening it.
    pub fn prepare(&self) -> std::io::Result<bool> {
        if let Some(parent) = self.path.parent()
            && !parent.as_os_str().is_empty()
        {
            db_core::owner_only::create_dir_all(parent)?;
        }
        let existed = self.path.exists();
        open_private(&self.path, false)?;
        Ok(!existed)
    }

    /// Replaces the file's content with `entries` (`name=value` lines under a comment) and
    /// syncs it to disk; the mode is set to 0600 even if the file existed with another.
    ///
    /// # Errors
    /// The I/O error of writing it.
    pub fn write(&self, entries: &[(&str, &SecretString)]) -> std::io::Result<()> {
        let mut text = format!(
            "# auth-service first-start credentials, {}. Shown nowhere else: store them, then \
             delete this file.\n",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        for (name, value) in entries {
            text.push_str(name);
            text.push('=');
            text.push_str(value.expose_secret());
            text.push('\n');
        }
        let mut file = open_private(&self.path, true)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }

    /// The `name=value` entries of the file (for `codelab up`, which shows them to the person
    /// at its terminal).
    ///
    /// # Errors
    /// The I/O error of reading it.
    pub fn read(&self) -> std::io::Result<Vec<(String, SecretString)>> {
        let text = std::fs::read_to_string(&self.path)?;
        Ok(text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), SecretString::from(v.to_owned())))
            .collect())
    }
}

/// Opens `path` for writing (truncating it when `truncate`), creating it with mode 0600 and
/// refusing a symbolic link in its place, and narrows an existing file's mode to 0600.
fn open_private(path: &Path, truncate: bool) -> std::io::Result<std::fs::File> {
    let file = db_core::owner_only::open_for_write(path, truncate)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = CredentialsFile::new(dir.path().join("nested/creds.txt"));
        assert!(file.prepare().unwrap());
        assert!(!file.prepare().unwrap());
        let secret = SecretString::from("s3cr=t");
        file.write(&[(ADMIN_PASSWORD_KEY, &secret)]).unwrap();
        let read = file.read().unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].0, ADMIN_PASSWORD_KEY);
        assert_eq!(read[0].1.expose_secret(), "s3cr=t");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_wider_file_is_narrowed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.txt");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let file = CredentialsFile::new(&path);
        file.write(&[]).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(file.read().unwrap().is_empty());
    }
}
