//! TLS serving through the public interface: a tonic server (grpc.health.v1) on 127.0.0.1:0 fed
//! by `incoming`, clients with a CA made in the test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use service_kit::client::ClientTls;
use service_kit::incoming::incoming;
use service_kit::testing::{Issued, TestPki};
use service_kit::tls::{TlsServer, TlsSettings};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::transport::{Endpoint, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A health server on 127.0.0.1:0 serving `tls`; stops when dropped.
struct Running {
    addr: std::net::SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn serve(tls: Option<TlsServer>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        Server::builder()
            .accept_http1(true)
            .add_service(health)
            .serve_with_incoming_shutdown(incoming(listener, tls), async move {
                let _ = stopped.await;
            }),
    );
    Running { addr, _stop: stop }
}

/// One health check over a new connection to `url` with `tls`.
async fn check(url: &str, tls: &ClientTls) -> Result<(), String> {
    let endpoint = tls
        .apply_to_endpoint(
            Endpoint::from_shared(url.to_owned())
                .unwrap()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(5)),
        )
        .map_err(|e| e.to_string())?;
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|_| ())
        .map_err(|s| format!("{s:?}"))
}

/// A raw TLS connection (ALPN http/1.1) trusting `pki`'s CA, presenting `identity`.
async fn raw_tls(
    addr: std::net::SocketAddr,
    pki: &TestPki,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let roots = service_kit::tls::read_roots(&pki.ca_file).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(service_kit::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap()
}

fn peer_cert(stream: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Sends one HTTP/1.1 request on `stream` and reads the status line of the answer.
async fn http1_status(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> String {
    stream
        .write_all(b"GET /nothing HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn server_with(pki: &TestPki, issued: &Issued, mutual: bool) -> TlsServer {
    TlsServer::from_settings(&pki.settings(issued, mutual))
        .unwrap()
        .expect("TLS on")
}

#[tokio::test]
async fn clients_with_the_ca_are_served_and_others_refused_without_stopping_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = TestPki::new(dir.path(), "test CA");
    let issued = pki.server("server", "first");
    let running = serve(Some(server_with(&pki, &issued, false))).await;
    let https = format!("https://127.0.0.1:{}", running.addr.port());
    let http = format!("http://127.0.0.1:{}", running.addr.port());
    let with_ca = pki.client_tls(None);

    check(&https, &with_ca).await.unwrap();
    // localhost is in the certificate too.
    check(
        &format!("https://localhost:{}", running.addr.port()),
        &with_ca,
    )
    .await
    .unwrap();
    // A plaintext client against the TLS port fails.
    assert!(check(&http, &ClientTls::default()).await.is_err());
    // A client trusting only the public roots refuses the certificate.
    assert!(check(&https, &ClientTls::default()).await.is_err());
    // A client trusting another CA refuses it too.
    let other_dir = tempfile::tempdir().unwrap();
    let other = TestPki::new(other_dir.path(), "other CA");
    assert!(check(&https, &other.client_tls(None)).await.is_err());
    // A client that connects and never starts its handshake holds no one up.
    let _silent = TcpStream::connect(running.addr).await.unwrap();
    // After all those failed handshakes the server still serves.
    check(&https, &with_ca).await.unwrap();
    // HTTP/1.1 is offered (auth-service's JWKS route needs it).
    let mut raw = raw_tls(running.addr, &pki).await;
    assert_eq!(raw.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert!(http1_status(&mut raw).await.starts_with("HTTP/1.1 "));
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = TestPki::new(dir.path(), "test CA");
    let issued = pki.server("server", "server");
    let client = pki.client("client", "agent-runtime");
    let server = server_with(&pki, &issued, true);
    assert!(server.is_mutual());
    let running = serve(Some(server)).await;
    let https = format!("https://127.0.0.1:{}", running.addr.port());

    let err = check(&https, &pki.client_tls(None)).await.unwrap_err();
    assert!(!err.is_empty());
    check(&https, &pki.client_tls(Some(&client))).await.unwrap();
    // A client certificate from another CA is refused.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = TestPki::new(other_dir.path(), "other CA");
    let stranger = other.client("stranger", "stranger");
    let mixed = ClientTls {
        ca_file: Some(pki.ca_file.clone()),
        cert_file: Some(stranger.cert_file),
        key_file: Some(stranger.key_file),
    };
    assert!(check(&https, &mixed).await.is_err());
}

#[tokio::test]
async fn a_bad_new_certificate_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = TestPki::new(dir.path(), "test CA");
    let issued = pki.server("server", "first");
    let server = server_with(&pki, &issued, false);
    let running = serve(Some(server.clone())).await;

    std::fs::write(&issued.cert_file, "not a certificate").unwrap();
    let err = server.cert().reload().unwrap_err();
    assert!(
        err.to_string()
            .contains(&issued.cert_file.display().to_string()),
        "{err}"
    );
    // A key that does not belong to the certificate is refused as well.
    let mismatched = pki.server("other", "other");
    std::fs::copy(&mismatched.cert_file, &issued.cert_file).unwrap();
    assert!(server.cert().reload().is_err());

    let raw = raw_tls(running.addr, &pki).await;
    assert_eq!(peer_cert(&raw), issued.der);
}

#[tokio::test]
async fn sighup_reloads_the_certificate_for_new_connections_and_keeps_open_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = TestPki::new(dir.path(), "test CA");
    let first = pki.server("server", "first");
    let server = server_with(&pki, &first, false);
    let watcher = service_kit::reload::spawn_watcher(
        server.cert().clone(),
        // Long: this test is about the signal, not the polling.
        Duration::from_secs(3600),
    );
    let running = serve(Some(server)).await;
    let mut open = raw_tls(running.addr, &pki).await;
    assert_eq!(peer_cert(&open), first.der);
    assert!(http1_status(&mut open).await.starts_with("HTTP/1.1 "));

    // Same file names, new certificate (another serial and subject) from the same CA.
    let second = pki.server("server", "second");
    assert_eq!(second.cert_file, first.cert_file);
    assert_ne!(second.der, first.der);
    // Give the watcher's signal handler time to be installed, then signal until it is seen.
    let deadline = Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fresh = raw_tls(running.addr, &pki).await;
        if peer_cert(&fresh) == second.der || Instant::now() > deadline {
            break fresh;
        }
    };
    assert_eq!(
        peer_cert(&fresh),
        second.der,
        "new connections get the new certificate"
    );
    // The connection opened before the reload still works, on the session it negotiated.
    assert_eq!(peer_cert(&open), first.der);
    assert!(http1_status(&mut open).await.starts_with("HTTP/1.1 "));
    check(
        &format!("https://127.0.0.1:{}", running.addr.port()),
        &pki.client_tls(None),
    )
    .await
    .unwrap();
    watcher.abort();
}

#[tokio::test]
async fn a_changed_file_is_reloaded_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = TestPki::new(dir.path(), "test CA");
    let first = pki.server("server", "first");
    let server = server_with(&pki, &first, false);
    let watcher =
        service_kit::reload::spawn_watcher(server.cert().clone(), Duration::from_millis(50));
    let running = serve(Some(server)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A different length guarantees a different stamp even within one mtime tick.
    let second = pki.server("server", "second-certificate-with-a-longer-subject");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let fresh = raw_tls(running.addr, &pki).await;
        if peer_cert(&fresh) == second.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
}

#[test]
fn plaintext_settings_serve_no_tls() {
    assert!(
        TlsServer::from_settings(&TlsSettings::default())
            .unwrap()
            .is_none()
    );
}
