//! Test support: a fresh database per test, on either backend.
//!
//! `TestDb::sqlite()` makes a temporary file (deleted on drop). `TestDb::postgres()` creates
//! `test_<random>` on the server named by `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and drops it on drop. A PostgreSQL test whose
//! server does not answer fails; it is never skipped. [`PgCluster`] is a PostgreSQL server of the
//! test's own, for tests that stop it or change its configuration.

use crate::{Backend, DbUrl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Default server for PostgreSQL tests.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for the life of one test.
pub struct TestDb {
    url: DbUrl,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("url", &self.url).finish()
    }
}

impl TestDb {
    /// A fresh database of `backend`.
    ///
    /// # Panics
    /// When the database cannot be created (PostgreSQL down): a test must not silently pass.
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    /// A temporary SQLite file.
    ///
    /// # Panics
    /// When no temporary folder can be made.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("create temp dir for test database");
        let url = DbUrl::SqliteFile(dir.path().join("test.db"));
        TestDb {
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A fresh PostgreSQL database on `TEST_POSTGRES_URL`.
    ///
    /// # Panics
    /// When the server does not answer or refuses `CREATE DATABASE`.
    pub async fn postgres() -> TestDb {
        let admin = admin_url();
        let name = format!("test_{:016x}", rand::random::<u64>());
        let mut conn = connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL test database server {} is unreachable ({e}); start it or set \
                 TEST_POSTGRES_URL",
                DbUrl::parse(&admin)
                    .map(|u| u.to_string())
                    .unwrap_or_default()
            )
        });
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        let url = DbUrl::parse(&admin)
            .expect("TEST_POSTGRES_URL is a PostgreSQL URL")
            .with_postgres_database(&name)
            .expect("PostgreSQL URL");
        TestDb {
            url,
            _dir: None,
            postgres: Some((admin, name)),
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// The backend of this database.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }
}

/// One connection to the PostgreSQL URL `raw`, with its TLS settings.
async fn connect(raw: &str) -> Result<AsyncPgConnection, String> {
    let url = DbUrl::parse(raw).map_err(|e| e.to_string())?;
    crate::pg_tls::PgConnector::new(&url)
        .map_err(|e| e.to_string())?
        .connect_diesel()
        .await
        .map_err(|e| e.to_string())
}

/// `TEST_POSTGRES_URL` or [`DEFAULT_TEST_POSTGRES_URL`].
pub fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_owned())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread with a
        // runtime of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = connect(&admin).await.ok()?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: test database was not dropped");
        }
    }
}

/// Runs the async test functions `$name(backend: Backend)` once per backend, as tests
/// `sqlite::$name` and `postgres::$name` (multi-threaded runtime, 2 workers).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// Column names Diesel selects for `query` (e.g. `table.select(table::all_columns)`), read from
/// the SQL it generates: what `schema.rs` says a table has.
pub fn diesel_columns<Q>(query: Q) -> std::collections::BTreeSet<String>
where
    Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>,
{
    diesel_column_order(query).into_iter().collect()
}

/// Column names Diesel selects for `query`, in select order (for `table::all_columns`: the
/// order of `schema.rs`, which is the order rows load in).
pub fn diesel_column_order<Q>(query: Q) -> Vec<String>
where
    Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>,
{
    let sql = sqlite_sql(&query);
    let select = sql
        .split(" FROM ")
        .next()
        .unwrap_or_default()
        .trim_start_matches("SELECT ");
    select
        .split(", ")
        .map(|c| {
            c.rsplit('.')
                .next()
                .unwrap_or(c)
                .trim_matches('`')
                .to_owned()
        })
        .collect()
}

/// The SQL text Diesel generates for `query` on SQLite (`?` placeholders), without its binds.
pub fn sqlite_sql<Q>(query: &Q) -> String
where
    Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>,
{
    let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(query).to_string();
    match sql.split_once(" -- binds:") {
        Some((text, _)) => text.to_owned(),
        None => sql,
    }
}

#[derive(diesel::QueryableByName)]
struct ColumnName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Column names of `table` in the database of `pool`, as the backend's catalog lists them.
///
/// # Panics
/// When the catalog query fails (a test helper).
pub async fn database_columns(
    pool: &crate::Pool,
    table: &str,
) -> std::collections::BTreeSet<String> {
    let mut conn = pool.get().await.expect("connection");
    let sql = match pool.backend() {
        Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
        Backend::Postgres => format!(
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_name = '{table}' AND table_schema = 'public'"
        ),
    };
    let rows: Vec<ColumnName> = crate::with_connection!(conn, |c| {
        diesel_async::RunQueryDsl::load(diesel::sql_query(&sql), c)
            .await
            .expect("catalog query")
    });
    rows.into_iter().map(|r| r.name).collect()
}

/// Runs every migration of `set` up, all the way down and up again on a fresh `backend`
/// database, and asserts each step: every migration applies and reverts, down leaves no table
/// and no current version, the second up gives the same schema (tables, columns, types,
/// nullability, indexes, foreign keys) as the first, and there is no drift. Returns that
/// schema, for the caller's own checks (which tables it holds).
///
/// # Panics
/// On any failed step: this is a test assertion.
pub async fn assert_migrations_round_trip(
    backend: Backend,
    set: &'static crate::migrate::MigrationSet,
) -> crate::admin::schema::Schema {
    use crate::migrate::{self, RollbackTarget};
    let db = TestDb::new(backend).await;
    let all = set.for_backend(backend).len();
    assert_eq!(
        migrate::migrate(db.url(), set, None).await.unwrap().len(),
        all
    );
    let up = crate::admin::live_schema(db.url()).await.unwrap();
    let reverted = migrate::rollback(db.url(), set, RollbackTarget::Steps(all)).await;
    assert_eq!(reverted.unwrap().len(), all);
    let down = crate::admin::live_schema(db.url()).await.unwrap();
    assert!(
        down.tables.is_empty(),
        "{backend}: tables left after down: {down:?}"
    );
    assert!(
        migrate::status(db.url(), set)
            .await
            .unwrap()
            .current
            .is_none()
    );
    migrate::migrate(db.url(), set, None).await.unwrap();
    assert_eq!(crate::admin::live_schema(db.url()).await.unwrap(), up);
    assert!(crate::admin::drift(db.url(), set).await.unwrap().is_empty());
    up
}

/// A PostgreSQL cluster of its own in a temporary folder, for tests that stop the server or
/// change its configuration (never the machine's shared server): `initdb` with trust
/// authentication, a free port on 127.0.0.1, run as the `postgres` user when the test runs as
/// root (initdb refuses root). Stopped immediately when dropped.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    /// The port it listens on, on 127.0.0.1 only.
    pub port: u16,
}

impl PgCluster {
    /// A new cluster, initialised but not started (configure [`PgCluster::data_dir`], then
    /// [`PgCluster::start`]).
    ///
    /// # Panics
    /// No PostgreSQL server binaries under `/usr/lib/postgresql`, or a failed `initdb`.
    pub fn init() -> PgCluster {
        let cluster = PgCluster {
            dir: tempfile::tempdir().unwrap(),
            bin: pg_bin(),
            port: std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
        };
        cluster.chown_to_postgres();
        let data = cluster.data_dir().display().to_string();
        cluster.as_postgres(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster
    }

    /// The cluster's own folder (its data folder, log and socket are inside).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The data folder (`pg_hba.conf`, certificates).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server on [`PgCluster::port`] with `options` (`-c name=value …`) added, and
    /// waits until it accepts connections. Files written into the folder since
    /// [`PgCluster::init`] are handed to `postgres` first.
    ///
    /// # Panics
    /// A server that does not start.
    pub fn start(&self, options: &str) {
        self.chown_to_postgres();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} {options}",
            self.port,
            self.dir.path().display()
        );
        let data = self.data_dir().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        self.as_postgres(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        );
    }

    /// Stops the server (fast shutdown) and waits until it is down.
    ///
    /// # Panics
    /// A server that does not stop.
    pub fn stop(&self) {
        let data = self.data_dir().display().to_string();
        self.as_postgres("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// `postgres://postgres@{host}:{port}/{database}`, then `?{params}` when not empty.
    pub fn url(&self, host: &str, database: &str, params: &str) -> String {
        let mut url = format!("postgres://postgres@{host}:{}/{database}", self.port);
        if !params.is_empty() {
            url.push('?');
            url.push_str(params);
        }
        url
    }

    /// `program` of the server binaries with `args`, as `postgres` when running as root.
    fn command(&self, program: &str) -> std::process::Command {
        if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            std::process::Command::new(self.bin.join(program))
        }
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .expect("run PostgreSQL tool");
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn chown_to_postgres(&self) {
        if !is_root() {
            return;
        }
        let ok = std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown the cluster folder to postgres");
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir().display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

/// The newest PostgreSQL server binaries under `/usr/lib/postgresql`.
fn pg_bin() -> std::path::PathBuf {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version").join("bin")
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
