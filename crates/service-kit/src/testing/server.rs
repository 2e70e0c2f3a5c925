//! A service under test: served on its own `127.0.0.1` port in the test's runtime, stopped by
//! [`TestServer::shutdown`] (which fails the test if the server failed) or when dropped.
//! Each service's `tests/api/helpers.rs` builds its configuration (its own database, from
//! `db_core::testing::TestDb`) and hands its `serve` function to [`TestServer::spawn`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_types::StatusExt;

/// The shutdown future a served service is given: resolves when the test stops it.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A running service and a channel to it.
pub struct TestServer<E> {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// A channel to it, opened once its health service answered `SERVING`.
    pub channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), E>>>,
}

impl<E: std::fmt::Debug + Send + 'static> TestServer<E> {
    /// Binds `127.0.0.1:0` and serves [`TestServer::spawn_on`] there.
    ///
    /// # Panics
    /// When the port cannot be bound, or as [`TestServer::spawn_on`].
    pub async fn spawn<F, Fut>(serve: F) -> TestServer<E>
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::spawn_on(listener, serve).await
    }

    /// Runs `serve(listener, shutdown)` on a task of its own and waits until the service is
    /// healthy ([`connect`]).
    ///
    /// # Panics
    /// When the server stops during start-up (with its result), or is not healthy in 60 s.
    pub async fn spawn_on<F, Fut>(listener: TcpListener, serve: F) -> TestServer<E>
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown: Shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let mut task = tokio::spawn(serve(listener, shutdown));
        let channel = tokio::select! {
            channel = connect(addr) => channel,
            result = &mut task => panic!("server stopped during start-up: {result:?}"),
        };
        TestServer {
            addr,
            channel,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://` and the address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it.
    ///
    /// # Panics
    /// When the server's task panicked or it returned an error.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

impl<E> Drop for TestServer<E> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Connects to `addr`, retrying for up to 60 s while the server starts (it binds before it
/// serves, and may wait for a key source first), until its health service answers `SERVING`.
///
/// # Panics
/// When the server is not healthy in time.
pub async fn connect(addr: SocketAddr) -> Channel {
    let endpoint = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(1));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(channel) = endpoint.connect().await {
            // The listener accepts before the service is up; wait for health to answer.
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
            let check = health.check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            });
            let ok = tokio::time::timeout(Duration::from_secs(2), check)
                .await
                .is_ok_and(|r| {
                    r.is_ok_and(|r| {
                        r.into_inner().status
                            == tonic_health::pb::health_check_response::ServingStatus::Serving
                                as i32
                    })
                });
            if ok {
                return channel;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {addr} did not become healthy");
}

/// Adds `authorization: Bearer …` and, when set, `x-forwarded-for` to every request.
#[derive(Clone, Debug, Default)]
pub struct Bearer {
    token: Option<AsciiMetadataValue>,
    forwarded_for: Option<AsciiMetadataValue>,
}

impl Bearer {
    /// The same, also sending `x-forwarded-for: <ip>`.
    ///
    /// # Panics
    /// When `ip` is not valid metadata.
    pub fn forwarded_for(mut self, ip: &str) -> Bearer {
        self.forwarded_for = Some(MetadataValue::try_from(ip).unwrap());
        self
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.token {
            request.metadata_mut().insert("authorization", v.clone());
        }
        if let Some(v) = &self.forwarded_for {
            request.metadata_mut().insert("x-forwarded-for", v.clone());
        }
        Ok(request)
    }
}

/// Sends `token` as a bearer token; nothing when it is empty.
///
/// # Panics
/// When the token is not valid metadata.
pub fn bearer(token: &str) -> Bearer {
    Bearer {
        token: (!token.is_empty())
            .then(|| MetadataValue::try_from(format!("Bearer {token}")).unwrap()),
        forwarded_for: None,
    }
}

/// The `ErrorInfo` reason of `status`.
///
/// # Panics
/// When the status carries no `ErrorInfo`.
pub fn error_reason(status: &Status) -> String {
    status
        .get_error_details()
        .error_info()
        .expect("ErrorInfo")
        .reason
        .clone()
}
