//! Connecting a run: only to loopback addresses, one [`WireClient`] per client plus a tonic
//! connection for seeding and cleaning up.

use std::net::IpAddr;

use anyhow::Context as _;
use codelab::client::{self, ConnectOpts, Connection, describe};

use crate::CommonOpts;
use crate::wire::{MethodPath, WireClient};

/// Refuses any address that is not loopback (127.0.0.0/8, ::1, or a name resolving only to
/// those).
///
/// # Errors
/// When the address is invalid, does not resolve, or is not loopback.
pub async fn ensure_loopback(addr: &str) -> anyhow::Result<()> {
    let endpoint = client::endpoint(addr)?;
    let uri = endpoint.uri();
    let host = uri.host().context("the address has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = if let Ok(ip) = host.parse::<IpAddr>() {
        ip.is_loopback()
    } else {
        let port = uri.port_u16().unwrap_or(80);
        let addrs: Vec<_> = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("cannot resolve `{host}`"))?
            .collect();
        !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
    };
    anyhow::ensure!(
        loopback,
        "codelab-bench only targets this machine: `{addr}` is not a loopback address (use 127.0.0.1, \
         [::1] or localhost)"
    );
    Ok(())
}

/// Hard-deletes the benchmark's sessions `ids` (a client whose every call failed never created
/// its session: not found is fine); failures are logged, not returned.
pub async fn delete_sessions(conn: &Connection, ids: Vec<String>) {
    let mut client = conn.sessions();
    for id in ids {
        let deleted = client
            .delete_session(codelab_proto::agent::v1::DeleteSessionRequest {
                session_id: id.clone(),
                hard: true,
            })
            .await;
        match deleted {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => {
                tracing::warn!(session_id = %id, error = %describe(&s), "could not delete bench session")
            }
        }
    }
}

/// The connections of a run against agent-runtime.
#[derive(Debug)]
pub struct Clients {
    /// A tonic connection for seeding and cleaning up, outside the measured calls.
    pub setup: Connection,
    /// One connection per client, for the measured calls.
    pub wire: Vec<WireClient>,
}

/// The path of a `SessionService` method.
///
/// # Errors
/// See [`MethodPath::new`].
pub fn session_method(method: &str) -> anyhow::Result<MethodPath> {
    MethodPath::new(
        codelab_proto::agent::v1::session_service_server::SERVICE_NAME,
        method,
    )
}

/// One [`WireClient`] per client, and the set-up connection.
///
/// # Errors
/// A non-loopback address, or the first connection that fails.
pub async fn connect_clients(opts: &CommonOpts) -> anyhow::Result<Clients> {
    ensure_loopback(&opts.connect.addr).await?;
    let setup = client::connect(&opts.connect).await?;
    let wire = connect_wire(&opts.connect, opts.run.clients).await?;
    Ok(Clients { setup, wire })
}

/// `n` [`WireClient`]s to `opts.addr` (which the caller has checked is loopback).
///
/// # Errors
/// The first connection that fails.
pub async fn connect_wire(opts: &ConnectOpts, n: u32) -> anyhow::Result<Vec<WireClient>> {
    let mut wire = Vec::with_capacity(n as usize);
    for _ in 0..n {
        wire.push(WireClient::connect(&opts.addr, opts.token.as_deref()).await?);
    }
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_loopback_is_accepted() {
        for ok in [
            "http://127.0.0.1:50051",
            "127.0.0.2:1",
            "http://[::1]:50051",
            "http://localhost:1",
        ] {
            ensure_loopback(ok)
                .await
                .unwrap_or_else(|e| panic!("{ok}: {e:#}"));
        }
        for bad in [
            "http://10.0.0.1:50051",
            "http://192.168.1.2:1",
            "http://8.8.8.8:443",
        ] {
            assert!(ensure_loopback(bad).await.is_err(), "{bad}");
        }
    }
}
