//! The connections handed to tonic's `serve_with_incoming_shutdown`: plain TCP, or TLS.
//!
//! Plaintext keeps tonic's own [`TcpIncoming`]. With TLS, a task accepts TCP connections and
//! runs each handshake in its own task, at most [`MAX_HANDSHAKES`] at a time (further
//! connections wait in the kernel's backlog) and each within [`HANDSHAKE_TIMEOUT`]: a client that
//! never finishes its handshake, or a failed one (wrong CA, no client certificate, plaintext on
//! a TLS port), is logged and dropped and never stops the accept loop. Every connection has
//! `TCP_NODELAY` (small unary answers would otherwise wait for the peer's delayed ACK).
//!
//! Both kinds report the peer as tonic's [`TcpConnectInfo`], so `Request::remote_addr` works
//! the same with and without TLS.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::server::TlsStream;
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

use crate::tls::TlsServer;

/// Most TLS handshakes in progress at once.
pub const MAX_HANDSHAKES: usize = 256;

/// Longest a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An accepted connection.
#[derive(Debug)]
pub enum ServerIo {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP, handshake done.
    Tls(Box<TlsStream<TcpStream>>),
}

/// The stream of accepted connections tonic serves.
pub type Incoming = Pin<Box<dyn Stream<Item = io::Result<ServerIo>> + Send>>;

/// The connections accepted on `listener`: plain TCP when `tls` is `None`, otherwise TLS as
/// described in the module doc. Dropping the stream closes the listener.
pub fn incoming(listener: TcpListener, tls: Option<TlsServer>) -> Incoming {
    match tls {
        None => TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .map(|r| r.map(ServerIo::Plain))
            .boxed(),
        Some(tls) => {
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(accept_loop(listener, tls, tx));
            tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: TlsServer,
    tx: mpsc::Sender<io::Result<ServerIo>>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            () = tx.closed() => return,
            permit = handshakes.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tls.acceptor().clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send(Ok(ServerIo::Tls(Box::new(stream)))).await;
                }
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    tracing::info!(%peer, timeout_secs = HANDSHAKE_TIMEOUT.as_secs(), "TLS handshake timed out");
                }
            }
        });
    }
}

impl Connected for ServerIo {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        match self {
            ServerIo::Plain(tcp) => tcp.connect_info(),
            ServerIo::Tls(tls) => tls.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for ServerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ServerIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ServerIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ServerIo::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ServerIo::Plain(s) => s.is_write_vectored(),
            ServerIo::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerIo::Plain(s) => Pin::new(s).poll_flush(cx),
            ServerIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ServerIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
