//! Re-reading the served certificate: on SIGHUP, and when the certificate or key file changes
//! (checked by modification time and size every [`POLL_INTERVAL`]; a Kubernetes secret or
//! certbot renewal replaces the files without signalling).
//!
//! A reload that fails (a half-written file, a key that does not match) keeps the previous
//! certificate and logs an error; the files are tried again when they change again or on the
//! next SIGHUP. Open connections are never touched: only later handshakes see a new certificate.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::tls::ReloadingCert;

/// How often the files' modification time and size are compared.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// What a file looked like when last checked: `(modified, length)`, `None` if unreadable.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reloads `cert` and logs the outcome; `why` says what triggered it.
pub fn reload_now(cert: &ReloadingCert, why: &str) -> bool {
    match cert.reload() {
        Ok(()) => {
            tracing::info!(
                cert_file = %cert.cert_file().display(),
                trigger = why,
                "TLS certificate reloaded; new connections use it"
            );
            true
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                trigger = why,
                "TLS certificate not reloaded, still serving the previous one"
            );
            false
        }
    }
}

/// Spawns the task that reloads `cert` on SIGHUP (Unix) and whenever its files change, polling
/// every `interval`. The SIGHUP handler is installed before this returns. Abort the returned
/// handle to stop it. Must be called inside a Tokio runtime.
pub fn spawn_watcher(cert: Arc<ReloadingCert>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let mut hangup = Hangup::new();
    tokio::spawn(async move {
        let mut seen = (stamp(cert.cert_file()), stamp(cert.key_file()));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = hangup.recv() => {
                    seen = (stamp(cert.cert_file()), stamp(cert.key_file()));
                    reload_now(&cert, "SIGHUP");
                }
                _ = ticker.tick() => {
                    let now = (stamp(cert.cert_file()), stamp(cert.key_file()));
                    if now != seen {
                        seen = now;
                        reload_now(&cert, "file change");
                    }
                }
            }
        }
    })
}

/// SIGHUP on Unix; never elsewhere.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    #[cfg(unix)]
    fn new() -> Hangup {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        if signal.is_none() {
            tracing::warn!("cannot listen for SIGHUP; TLS files are still polled for changes");
        }
        Hangup { signal }
    }

    #[cfg(not(unix))]
    fn new() -> Hangup {
        Hangup {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}
