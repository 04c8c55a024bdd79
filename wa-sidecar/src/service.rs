//! The service `wa-sidecar run` runs: the reconnect loop plus the HTTP API, sharing the
//! session state through a `watch` channel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::WebhookConfig;
use crate::driver::{Driver, DriverConfig, RunEnd};
use crate::forwarder::Forwarder;
use crate::http::{HttpState, router};
use crate::idempotency::Idempotency;
use crate::outbox::Outbox;
use crate::send_api::SendApi;
use crate::state::LinkState;
use crate::store::{Store, StoreError};

/// Why the service failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The HTTP listener could not bind `SIDECAR_BIND`.
    #[error("cannot listen on {addr} (SIDECAR_BIND): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store failed; the driver stopped without sending anything further.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The driver task died (a bug).
    #[error("connection driver task failed: {0}")]
    Task(String),
}

/// A running service. HTTP keeps answering after the driver stopped (logged out, replaced,
/// not paired) so `/health` reports why, until [`Service::shutdown`].
pub struct Service {
    http_addr: SocketAddr,
    link: watch::Receiver<LinkState>,
    attempts: Arc<AtomicU64>,
    shutdown: watch::Sender<bool>,
    driver: Option<JoinHandle<Result<RunEnd, StoreError>>>,
    http: JoinHandle<()>,
    forwarder: Option<JoinHandle<()>>,
}

/// What the service does beyond the connection and `/health`.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Forward inbound messages and receipts here; its secret also guards `/send`.
    pub webhook: Option<WebhookConfig>,
    /// `WA_SEND_RATE_PER_MIN`.
    pub send_rate_per_min: u32,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            webhook: None,
            send_rate_per_min: crate::idempotency::DEFAULT_RATE_PER_MIN,
        }
    }
}

impl Service {
    /// Binds `bind`, then starts the connection loop for the paired device in `store`, with
    /// default [`ServiceOptions`] (no forwarder; `/send` refuses every request with 401).
    pub async fn start(
        cfg: DriverConfig,
        store: Store,
        bind: SocketAddr,
    ) -> Result<Service, ServiceError> {
        Self::start_with(cfg, store, bind, ServiceOptions::default()).await
    }

    /// Binds `bind`, then starts the connection loop, `/send` and — when `options.webhook` is
    /// set — the outbox forwarder.
    pub async fn start_with(
        cfg: DriverConfig,
        store: Store,
        bind: SocketAddr,
        options: ServiceOptions,
    ) -> Result<Service, ServiceError> {
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| ServiceError::Bind { addr: bind, source })?;
        let http_addr = listener
            .local_addr()
            .map_err(|source| ServiceError::Bind { addr: bind, source })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let device_jid = store.load_device()?.and_then(|d| d.jid);
        let mut driver = Driver::new(cfg, store.clone(), shutdown_rx.clone());
        let outbox = Outbox::open(&store)?;
        driver.set_outbox(outbox.clone())?;
        let forwarder = match &options.webhook {
            Some(w) => {
                let f = Forwarder::new(outbox, w.target.to_string(), w.secret.clone())?;
                let stop = shutdown_rx.clone();
                Some(tokio::spawn(f.run(stop)))
            }
            None => None,
        };
        let link = driver.subscribe();
        let attempts = driver.attempts();
        let send_api = SendApi::new(
            options.webhook.as_ref().map(|w| w.secret.clone()),
            Idempotency::open(&store)?,
            options.send_rate_per_min,
            driver.sender(),
        );
        let http_state = HttpState::new(link.clone(), Some(store)).with_send(send_api);
        http_state.set_device(device_jid);
        let app = router(http_state);
        let mut stop = shutdown_rx;
        let http = tokio::spawn(async move {
            let graceful = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(graceful)
                .await
            {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%http_addr, "HTTP API listening");
        let driver = tokio::spawn(async move { driver.run().await });
        Ok(Service {
            http_addr,
            link,
            attempts,
            shutdown,
            driver: Some(driver),
            http,
            forwarder,
        })
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Follow the session state.
    pub fn link(&self) -> watch::Receiver<LinkState> {
        self.link.clone()
    }

    /// WebSocket connection attempts so far.
    pub fn connection_attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Waits until the connection loop stops (logged out, replaced, not paired, shutdown, or a
    /// store failure). HTTP keeps serving. Returns at once if it already reported.
    pub async fn driver_finished(&mut self) -> Result<RunEnd, ServiceError> {
        let Some(task) = self.driver.take() else {
            return Ok(RunEnd::Shutdown);
        };
        match task.await {
            Ok(result) => Ok(result?),
            Err(e) => Err(ServiceError::Task(e.to_string())),
        }
    }

    /// Stops the connection loop and the HTTP server, and waits for both.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.driver.take() {
            let _ = task.await;
        }
        let _ = (&mut self.http).await;
        if let Some(f) = self.forwarder.take() {
            let _ = f.await;
        }
    }
}
