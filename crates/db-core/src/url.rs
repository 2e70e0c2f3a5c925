//! Database URLs: which backend, where, and how to print them without the password.

use std::fmt;
use std::path::PathBuf;

/// The database engines codelab runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite 3 through the bundled library (the default: no server to install).
    Sqlite,
    /// PostgreSQL 13 or newer (production).
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Why a database URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// The scheme is none of the accepted ones.
    #[error(
        "unsupported database URL scheme `{0}`: expected sqlite:///relative.db, \
         sqlite:////absolute.db, sqlite::memory:, postgres://… or postgresql://… \
         (sqlite+aiosqlite, postgresql+asyncpg and postgresql+psycopg2 are accepted too)"
    )]
    UnsupportedScheme(String),
    /// A SQLite URL without a file path.
    #[error("SQLite URL `{0}` names no file: use sqlite:///relative.db or sqlite:////absolute.db")]
    MissingPath(String),
    /// A PostgreSQL URL that does not parse.
    #[error("invalid PostgreSQL URL: {0}")]
    InvalidPostgres(String),
}

/// A parsed database URL.
///
/// Accepted spellings (DESIGN.md, plus the original Python service's SQLAlchemy ones so an
/// existing `.env` keeps working):
///
/// | URL | meaning |
/// |---|---|
/// | `sqlite:///data/app.db` | SQLite file `data/app.db`, relative to the working directory |
/// | `sqlite:////var/lib/app.db` | SQLite file `/var/lib/app.db` |
/// | `sqlite::memory:` | private in-memory SQLite database (pool size forced to 1) |
/// | `sqlite+aiosqlite:///…` | same as `sqlite:///…` |
/// | `postgres://user:pw@host:5432/db`, `postgresql://…` | PostgreSQL |
/// | `postgresql+asyncpg://…`, `postgresql+psycopg2://…`, `postgresql+psycopg://…` | same as `postgresql://…` |
///
/// `Display` and `Debug` print the URL with the password replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// A SQLite database file.
    SqliteFile(PathBuf),
    /// A private in-memory SQLite database.
    SqliteMemory,
    /// A PostgreSQL connection URL, normalised to the `postgres://` scheme.
    Postgres(url::Url),
}

impl DbUrl {
    /// Parses a database URL (see the table on [`DbUrl`]).
    ///
    /// # Errors
    /// [`UrlError`] naming the accepted schemes when the scheme is unknown, the SQLite path is
    /// empty, or a PostgreSQL URL is malformed (its `sslmode`/`sslrootcert` included: see
    /// [`crate::PgTlsSettings::from_url`]).
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        let (scheme, rest) = raw
            .split_once(':')
            .ok_or_else(|| UrlError::UnsupportedScheme(redact_raw(raw)))?;
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite+aiosqlite" | "sqlite+pysqlite" => {
                if rest == ":memory:"
                    || rest == "///:memory:"
                    || rest == "//"
                    || rest == "//:memory:"
                {
                    return Ok(DbUrl::SqliteMemory);
                }
                let path = rest
                    .strip_prefix("///")
                    .ok_or_else(|| UrlError::MissingPath(redact_raw(raw)))?;
                // Drop SQLAlchemy-style query parameters; the path is what identifies the file.
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() {
                    return Err(UrlError::MissingPath(redact_raw(raw)));
                }
                Ok(DbUrl::SqliteFile(PathBuf::from(path)))
            }
            "postgres"
            | "postgresql"
            | "postgresql+asyncpg"
            | "postgresql+psycopg2"
            | "postgresql+psycopg"
            | "postgres+asyncpg" => {
                let normalised = format!("postgres:{rest}");
                let url = url::Url::parse(&normalised).map_err(|e| {
                    UrlError::InvalidPostgres(format!("{e} in `{}`", redact_raw(raw)))
                })?;
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(UrlError::InvalidPostgres(format!(
                        "no host in `{}`",
                        redact_raw(raw)
                    )));
                }
                // `sslmode`/`sslrootcert` are checked here so a typo stops the start.
                crate::PgTlsSettings::from_url(&url).map_err(UrlError::InvalidPostgres)?;
                Ok(DbUrl::Postgres(url))
            }
            other => Err(UrlError::UnsupportedScheme(other.to_owned())),
        }
    }

    /// Which engine this URL points at.
    pub fn backend(&self) -> Backend {
        match self {
            DbUrl::SqliteFile(_) | DbUrl::SqliteMemory => Backend::Sqlite,
            DbUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// The string handed to the driver: a file path, `:memory:`, or a `postgres://` URL.
    ///
    /// Contains the password in clear: never log it (log the `DbUrl` itself instead).
    pub fn connection_string(&self) -> String {
        match self {
            DbUrl::SqliteFile(p) => p.to_string_lossy().into_owned(),
            DbUrl::SqliteMemory => ":memory:".to_owned(),
            DbUrl::Postgres(u) => u.as_str().to_owned(),
        }
    }

    /// The URL in a form [`DbUrl::parse`] reads back, password included (for handing a URL to
    /// configuration; never log it — log the `DbUrl` itself, which redacts).
    pub fn expose_url(&self) -> String {
        match self {
            DbUrl::Postgres(u) => u.as_str().to_owned(),
            other => other.to_string(),
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            DbUrl::SqliteFile(p) => Some(p),
            _ => None,
        }
    }

    /// The PostgreSQL database name (path of the URL), if this is PostgreSQL.
    pub fn postgres_database(&self) -> Option<String> {
        match self {
            DbUrl::Postgres(u) => Some(u.path().trim_start_matches('/').to_owned()),
            _ => None,
        }
    }

    /// A PostgreSQL URL on the same server with another database name.
    ///
    /// Returns `None` for SQLite URLs.
    pub fn with_postgres_database(&self, database: &str) -> Option<DbUrl> {
        match self {
            DbUrl::Postgres(u) => {
                let mut u = u.clone();
                u.set_path(&format!("/{database}"));
                Some(DbUrl::Postgres(u))
            }
            _ => None,
        }
    }

    /// Creates the parent folder of a SQLite file, mode 0700 (no-op otherwise).
    ///
    /// # Errors
    /// The I/O error of `create_dir_all`.
    pub fn ensure_parent_dir(&self) -> std::io::Result<()> {
        if let DbUrl::SqliteFile(p) = self
            && let Some(parent) = p.parent()
            && !parent.as_os_str().is_empty()
        {
            crate::owner_only::create_dir_all(parent)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for DbUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DbUrl::parse(s)
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::SqliteFile(p) if p.is_absolute() => write!(f, "sqlite:///{}", p.display()),
            DbUrl::SqliteFile(p) => write!(f, "sqlite:///{}", p.display()),
            DbUrl::SqliteMemory => f.write_str("sqlite::memory:"),
            // Userinfo password and `?password=`-like query parameters.
            DbUrl::Postgres(u) => f.write_str(&crate::redact::redact_url(u)),
        }
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

/// Best-effort redaction of a URL that failed to parse: userinfo password, secret query
/// parameters and libpq `password=…` pairs ([`crate::redact::redact_text`]).
fn redact_raw(raw: &str) -> String {
    crate::redact::redact_text(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_spellings() {
        assert_eq!(
            DbUrl::parse("sqlite:///data/agent_runtime.db").unwrap(),
            DbUrl::SqliteFile("data/agent_runtime.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite:////var/lib/codelab/a.db").unwrap(),
            DbUrl::SqliteFile("/var/lib/codelab/a.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite+aiosqlite:///./data/auth.db").unwrap(),
            DbUrl::SqliteFile("./data/auth.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite::memory:").unwrap(),
            DbUrl::SqliteMemory
        );
        assert_eq!(
            DbUrl::parse("sqlite::memory:").unwrap().backend(),
            Backend::Sqlite
        );
    }

    #[test]
    fn postgres_spellings_normalise() {
        for raw in [
            "postgres://u:p@db:5432/agent_runtime",
            "postgresql://u:p@db:5432/agent_runtime",
            "postgresql+asyncpg://u:p@db:5432/agent_runtime",
            "postgresql+psycopg2://u:p@db:5432/agent_runtime",
        ] {
            let url = DbUrl::parse(raw).unwrap();
            assert_eq!(url.backend(), Backend::Postgres);
            assert_eq!(
                url.connection_string(),
                "postgres://u:p@db:5432/agent_runtime"
            );
            assert_eq!(url.postgres_database().as_deref(), Some("agent_runtime"));
        }
    }

    #[test]
    fn password_is_redacted() {
        let url = DbUrl::parse("postgresql://codelab:s3cret@host/db").unwrap();
        assert_eq!(url.to_string(), "postgres://codelab:***@host/db");
        assert_eq!(DbUrl::parse(&url.expose_url()).unwrap(), url);
        let file = DbUrl::parse("sqlite:////tmp/x.db").unwrap();
        assert_eq!(DbUrl::parse(&file.expose_url()).unwrap(), file);
        assert!(!format!("{url:?}").contains("s3cret"));
        let err = DbUrl::parse("postgresql://codelab:s3cret@[bad/db").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn unknown_scheme_names_the_accepted_ones() {
        let err = DbUrl::parse("mysql://x/y").unwrap_err();
        assert_eq!(err, UrlError::UnsupportedScheme("mysql".into()));
        assert!(err.to_string().contains("postgresql://"));
        assert!(matches!(
            DbUrl::parse("no-scheme"),
            Err(UrlError::UnsupportedScheme(_))
        ));
        assert!(matches!(DbUrl::parse("sqlite://"), Ok(DbUrl::SqliteMemory)));
        assert!(matches!(
            DbUrl::parse("sqlite:///"),
            Err(UrlError::MissingPath(_))
        ));
        assert!(matches!(
            DbUrl::parse("postgres:///db"),
            Err(UrlError::InvalidPostgres(_))
        ));
    }

    #[test]
    fn other_database_on_same_server() {
        let url = DbUrl::parse("postgres://postgres@127.0.0.1:5432/postgres").unwrap();
        let other = url.with_postgres_database("test_x").unwrap();
        assert_eq!(
            other.connection_string(),
            "postgres://postgres@127.0.0.1:5432/test_x"
        );
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            // 2,000 cases in every test run; `PROPTEST_CASES=N` runs N instead (longer runs).
            #![proptest_config(ProptestConfig::with_cases(
                std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000),
            ))]

            /// Whatever text arrives in `…__DB_URL` or `--url`: an answer, never a panic.
            #[test]
            fn parsing_arbitrary_text_never_panics(s in "\\PC{0,120}") {
                let _ = DbUrl::parse(&s);
            }

            /// Text after a valid scheme (the likely typo space) never panics either.
            #[test]
            fn parsing_after_a_scheme_never_panics(
                scheme in prop::sample::select(vec![
                    "sqlite://", "sqlite:///", "sqlite:////", "sqlite+aiosqlite:///",
                    "postgres://", "postgresql://", "postgresql+asyncpg://",
                ]),
                rest in "\\PC{0,80}",
            ) {
                let _ = DbUrl::parse(&format!("{scheme}{rest}"));
            }

            /// A password never shows in `Display` or `Debug`, whatever it is.
            #[test]
            fn passwords_never_show(
                user in "[a-z][a-z0-9_]{0,15}",
                password in "[A-Za-z0-9!*~._-]{6,24}",
                host in "[a-z][a-z0-9.-]{0,20}",
                db in "[a-z_][a-z0-9_]{0,20}",
            ) {
                let raw = format!("postgresql://{user}:{password}@{host}:5432/{db}");
                if let Ok(url) = DbUrl::parse(&raw) {
                    prop_assert!(!url.to_string().contains(&password));
                    let debug = format!("{url:?}");
                    prop_assert!(!debug.contains(&password));
                }
                if let Err(e) = DbUrl::parse(&format!("{raw}?bad=%zz")) {
                    prop_assert!(!e.to_string().contains(&password));
                }
            }
        }
    }
}
