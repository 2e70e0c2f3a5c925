//! Running the workspace's binaries as real processes in tests: free ports, the service
//! binaries built next to `codelab`, a child process stopped on drop, and `codelab` itself.

pub mod services;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A service binary built next to `codelab` (cargo builds every workspace binary for the
/// workspace's tests).
pub fn binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_codelab"))
        .parent()
        .unwrap()
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run the workspace's tests (scripts/test.sh) or `cargo build --bins`",
        path.display()
    );
    path
}

/// What one run of a binary did.
#[derive(Debug)]
pub struct Out {
    /// Whether it exited with success.
    pub ok: bool,
    /// Its stdout, lossily decoded.
    pub stdout: String,
    /// Its stderr, lossily decoded.
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(out: Output) -> Out {
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Removes the services' variables (`AGENT_RUNTIME__*`, `AUTH_SERVICE__*`) the test's own
/// environment may hold from `command`, so it sees only what the test gives it.
pub fn without_service_env(command: &mut Command) -> &mut Command {
    for (var, _) in std::env::vars() {
        if var.starts_with("AGENT_RUNTIME__") || var.starts_with("AUTH_SERVICE__") {
            command.env_remove(var);
        }
    }
    command
}

/// Runs `codelab args…` in an empty folder (no `.env`) with only `env` of the services'
/// variables set.
pub fn codelab_isolated(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    without_service_env(&mut Command::new(env!("CARGO_BIN_EXE_codelab")))
        .args(args)
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .output()
        .expect("codelab runs")
}

/// Kills a server the test started itself if the test fails before it is done.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child process, killed when dropped if still running.
pub struct Process {
    /// The binary's name.
    pub name: &'static str,
    /// The running child.
    pub child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts binary `name` in `dir` with only `env` of the services' variables (nothing from
    /// the test's own environment or a `.env`), JSON logs appended to `dir/<name>.log`.
    pub fn start(name: &'static str, dir: &Path, env: &[(String, String)]) -> Process {
        Process::spawn(name, Command::new(binary(name)), dir, env)
    }

    /// Like [`Process::start`], with a file-size limit of `kib` KiB (`ulimit -f`): a write past
    /// it fails with EFBIG, as on a full disk (SIGXFSZ is ignored so the error is returned).
    /// Only the soft limit is set, so `prlimit --pid <pid> --fsize=unlimited:` lifts it.
    pub fn start_with_file_limit(
        name: &'static str,
        dir: &Path,
        env: &[(String, String)],
        kib: u32,
    ) -> Process {
        let mut command = Command::new("bash");
        command.arg("-c").arg(format!(
            "trap '' XFSZ; ulimit -S -f {kib}; exec \"{}\"",
            binary(name).display()
        ));
        Process::spawn(name, command, dir, env)
    }

    fn spawn(
        name: &'static str,
        mut command: Command,
        dir: &Path,
        env: &[(String, String)],
    ) -> Process {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = without_service_env(&mut command)
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("LOG_FORMAT", "json")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Process { name, child, log }
    }

    /// Everything the process (and earlier processes logging to the same file) wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait up to 10 s; true when it exited with success.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    /// SIGKILL: the process gets no chance to clean up (a crash or power cut for the
    /// process, not for the disk).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `codelab healthcheck --addr addr` says SERVING; panics with the process's log
/// if it exits or 60 s pass.
pub fn wait_serving(process: &mut Process, addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if healthcheck(addr) {
            return;
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!("{} exited ({status}): {}", process.name, process.log());
        }
        assert!(
            Instant::now() < deadline,
            "{} never became SERVING: {}",
            process.name,
            process.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `codelab healthcheck` reports SERVING for `addr` within a second.
pub fn healthcheck(addr: &str) -> bool {
    Command::new(env!("CARGO_BIN_EXE_codelab"))
        .args(["healthcheck", "--addr", addr, "--timeout-ms", "1000"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `codelab args…` with `env`; returns stdout, panicking with stderr on failure.
pub fn codelab(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_codelab"))
        .args(args)
        .env_remove("CODELAB_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("codelab runs");
    assert!(
        out.status.success(),
        "codelab {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Logs in to auth-service at `auth_addr` (`host:port`) as the admin, with the password
/// `codelab up` printed once in its log `log`; returns the access token.
pub async fn admin_token_from_up_log(log: &str, auth_addr: &str) -> String {
    use clap::Parser as _;
    let password = log
        .split("generated password ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no generated admin password printed:\n{log}"))
        .to_owned();
    let login = codelab::Cli::try_parse_from([
        "codelab",
        "login",
        "--auth-addr",
        &format!("http://{auth_addr}"),
    ])
    .unwrap();
    let codelab::Command::Login(mut login) = login.command else {
        panic!("not a login command")
    };
    login.password = Some(secrecy::SecretString::from(password));
    codelab::commands::login::login(&login)
        .await
        .expect("admin login")
        .access_token
}

/// `codelab sessions import <file> --addr <url> --token <token>`, run in this process.
pub async fn import_with_token(file: &Path, url: &str, token: &str) {
    use clap::Parser as _;
    let import = codelab::Cli::try_parse_from([
        "codelab",
        "sessions",
        "import",
        file.to_str().unwrap(),
        "--addr",
        url,
        "--token",
        token,
    ])
    .unwrap();
    codelab::run(import).await.expect("import");
}

/// `command` (a `codelab` invocation) turned into `codelab up --data-dir state` with
/// agent-runtime on `addr` and auth-service on `auth_addr`, authentication on and the admin
/// password generated, whatever the test's own environment says.
pub fn up_on<'a>(command: &'a mut Command, addr: &str, auth_addr: &str) -> &'a mut Command {
    command
        .args(["up", "--data-dir", "state"])
        .env("AGENT_RUNTIME__GRPC_ADDR", addr)
        .env("AUTH_SERVICE__GRPC_ADDR", auth_addr)
        .env_remove("AGENT_RUNTIME__AUTH__DISABLED")
        .env_remove("AGENT_RUNTIME__AUTH__JWKS_URL")
        .env_remove("AGENT_RUNTIME__AUTH__AUTH_SERVICE_URL")
        .env_remove("AUTH_SERVICE__ADMIN_PASSWORD")
}

/// A random-enough suffix for database names.
pub fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Rows of `table` in the first database of `codelab db stats --json` output.
pub fn table_rows(stats: &serde_json::Value, table: &str) -> u64 {
    stats[0]["tables"]
        .as_array()
        .expect("tables in stats")
        .iter()
        .find(|t| t["name"] == table)
        .and_then(|t| t["rows"].as_u64())
        .unwrap_or_else(|| panic!("no table {table} in {stats}"))
}
