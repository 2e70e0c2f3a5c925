//! The `GET /metrics` endpoint: [`serve`] and the background [`MetricsEndpoint`].

use super::Metrics;
use std::future::Future;

/// Serves `GET /metrics` (and `GET /`, for a quick look) on `listener` until `shutdown`
/// resolves. Content type `application/openmetrics-text; version=1.0.0; charset=utf-8`.
///
/// # Errors
/// The listener's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let handler = move || {
        let metrics = metrics.clone();
        async move {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                metrics.render(),
            )
        }
    };
    let app = axum::Router::new()
        .route("/metrics", get(handler.clone()))
        .route("/", get(handler));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A running metrics endpoint (see [`serve`]), stopped with [`MetricsEndpoint::stop`].
#[derive(Debug)]
pub struct MetricsEndpoint {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Binds `addr` and serves `metrics` on it in a background task; logs the URL.
    ///
    /// # Errors
    /// The bind error (address in use, permission denied).
    pub async fn start(
        addr: std::net::SocketAddr,
        metrics: Metrics,
    ) -> std::io::Result<MetricsEndpoint> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            if let Err(e) = serve(listener, metrics, stopped).await {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        });
        Ok(MetricsEndpoint { addr, stop, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops accepting scrapes and waits for the endpoint to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
