//! Owner-only files and folders: everything codelab writes that holds data or secrets (SQLite
//! databases and their `-wal`/`-shm`, backups, credentials, exports) is created readable by its
//! owner only, whatever the process umask.
//!
//! The mode is given at creation (`open(2)`/`mkdir(2)` with `0600`/`0700`), never set by a
//! `chmod` afterwards, so there is no moment when another user could open the file. Files that
//! must be new are created with `O_CREAT | O_EXCL`, which never follows a symbolic link; files
//! that may exist are opened with `O_NOFOLLOW`, so a link planted in their place is refused
//! instead of written through (CWE-59, "link following").
//!
//! SQLite creates a database's `-wal` and `-shm` files with the mode of the database file itself
//! (`sqlite3.c`, `findCreateFileMode()`: "the permissions of the WAL or journal file are set to
//! match those of the database file"), so [`prepare_sqlite_file`] creates the database file
//! with `0600` before SQLite first opens it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of every file codelab creates: read and write for the owner only.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder codelab creates: the owner only.
pub const DIR_MODE: u32 = 0o700;

/// Creates `path` and its missing parents with mode `0700` (folders that already exist keep
/// their mode: `--data-dir .` must not change the working directory's).
///
/// # Errors
/// The I/O error of `mkdir(2)`.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(DIR_MODE);
    }
    builder.create(path)
}

/// Creates the folder `path`, which must not exist, with mode `0700`. A folder, file or symbolic
/// link already there is an error (`AlreadyExists`): nothing is ever written into a folder
/// somebody else prepared.
///
/// # Errors
/// The I/O error of `mkdir(2)`.
pub fn create_new_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(DIR_MODE);
    }
    builder.create(path)
}

/// Creates the file `path`, which must not exist, for writing with mode `0600`
/// (`O_CREAT | O_EXCL`: a symbolic link in its place is `AlreadyExists`, never followed).
///
/// # Errors
/// The I/O error of `open(2)`.
pub fn create_new_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(FILE_MODE);
    }
    options.open(path)
}

/// Opens `path` for writing, creating it with mode `0600` when missing, truncating it when
/// `truncate` (else appending). A symbolic link at `path` is refused (`O_NOFOLLOW`: the error
/// is `ELOOP`). An existing file keeps its mode.
///
/// # Errors
/// The I/O error of `open(2)`.
pub fn open_for_write(path: &Path, truncate: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    if truncate {
        options.truncate(true);
    } else {
        options.append(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(FILE_MODE).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            io::Error::new(
                e.kind(),
                format!(
                    "{} is a symbolic link; refusing to write through it",
                    path.display()
                ),
            )
        } else {
            e
        }
    })
}

/// Removes the group and other permission bits of `path` if it exists and has any (a file
/// created by an older codelab with the umask's `0644`). Files of another owner are left alone.
///
/// # Errors
/// The I/O error of `chmod(2)` on a file this process owns.
pub fn narrow(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if meta.mode() & 0o077 != 0 {
            let mode = meta.mode() & 0o700;
            match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
                // Another user's file: not ours to change.
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
                other => other?,
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes the SQLite database file `path` owner-only before SQLite opens it: creates its folder
/// (`0700` for the folders it creates) and the empty database file with `0600` when missing —
/// SQLite then gives `-wal` and `-shm` the same mode — and narrows an existing database's, and
/// its `-wal`'s and `-shm`'s, group and other bits away.
///
/// # Errors
/// The I/O error of creating the folder or the file, or of narrowing an own file.
pub fn prepare_sqlite_file(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    match create_new_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                narrow(Path::new(&name))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// [`prepare_sqlite_file`] for the file of a SQLite URL; nothing for other URLs.
///
/// # Errors
/// As [`prepare_sqlite_file`].
pub fn prepare_sqlite_url(url: &crate::DbUrl) -> io::Result<()> {
    match url.sqlite_path() {
        Some(path) => prepare_sqlite_file(path),
        None => Ok(()),
    }
}
