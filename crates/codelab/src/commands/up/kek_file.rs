//! The key-encryption key `codelab up` keeps for its embedded auth-service: generated once into
//! an owner-only file next to the data (never inside the database, so neither a backup nor a
//! `db copy` carries it), and read from there on later starts.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use secrecy::ExposeSecret as _;

/// File name of the generated KEK inside `--data-dir`.
pub const KEK_FILE: &str = "auth-kek";

/// The KEK file in `data_dir`, generated (32 random bytes, base64, mode 0600 from creation)
/// when missing. The file is written under a temporary name and linked into place, so a
/// concurrent start sees either no file or a whole one, and an existing file (or symlink) is
/// never overwritten.
///
/// # Errors
/// The folder or file cannot be created, or `KEK_FILE` exists but is not a regular file.
pub fn ensure(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join(KEK_FILE);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_file() => return Ok(path),
        Ok(_) => anyhow::bail!(
            "{} exists but is not a regular file; remove it or set {}",
            path.display(),
            auth_service::kek::KEK_ENV
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    }
    db_core::owner_only::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;
    let temporary = data_dir.join(format!(".{KEK_FILE}.{}.tmp", std::process::id()));
    let written = write_new(&temporary).and_then(|()| std::fs::hard_link(&temporary, &path));
    let _ = std::fs::remove_file(&temporary);
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated the key-encryption key of auth-service");
            Ok(path)
        }
        // Another start linked its file first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(path),
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

/// Creates `path` (owner-only, `O_EXCL`: never through a symlink) holding a new KEK, synced to
/// disk.
fn write_new(path: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = db_core::owner_only::create_new_file(path)?;
    let key = auth_service::kek::Keks::generate();
    file.write_all(key.expose_secret().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_owner_only_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let path = ensure(&data).unwrap();
        assert_eq!(path, data.join(KEK_FILE));
        let first = std::fs::read_to_string(&path).unwrap();
        auth_service::kek::Keks::parse(
            &secrecy::SecretString::from(first.clone()),
            auth_service::kek::KEK_FILE_ENV,
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        assert_eq!(ensure(&data).unwrap(), path);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first, "kept");
        let leftovers: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_its_place_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join(KEK_FILE))
            .unwrap();
        let e = ensure(dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("not a regular file"), "{e:#}");
        assert!(!dir.path().join("elsewhere").exists());
    }
}
