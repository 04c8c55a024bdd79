//! The service: shared state, router, start-up (`build`) and graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use crm_store::{InboundOutcome, NewInboundMessage, Store};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::metrics::{Metrics, Outcome, Route};
use crate::respond::{empty, now_millis};
use crate::secret::Secret;
use crate::worker::{MediaCopier, Worker};

/// Why the service could not start or stop cleanly. Mostly the operator's environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address from `GATEWAY_BIND`.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The data folder or the API token file could not be used.
    #[error("{path}: {source}")]
    DataDir {
        /// The path at fault.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] crm_store::StoreError),
    /// The media store could not be set up.
    #[error("media store: {0}")]
    Media(String),
    /// The HTTP server failed.
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// State shared by handlers and the worker.
pub struct AppState {
    /// Validated configuration.
    pub config: Config,
    /// The CRM store.
    pub store: Arc<dyn Store>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Bearer token of the read API.
    pub api_token: Secret,
    /// Media copier used by the worker and the download route.
    pub media: Arc<dyn MediaCopier>,
    /// Wakes the worker when a webhook enqueued work.
    pub work: Notify,
    /// Outbound routing, provider clients and sidecar health.
    pub outbound: crate::outbound::Outbound,
    events: watch::Sender<u64>,
    shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// Tells live event streams that new events may be in the store.
    pub fn notify_events(&self) {
        self.events.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever [`AppState::notify_events`] is called.
    pub fn subscribe_events(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }

    /// A receiver that turns `true` when the service shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }
}

/// Persists an inbound message and answers the webhook: 204 for stored or duplicate, 503 when
/// the store failed (so the provider retries), never 204 for something not stored.
pub(crate) async fn store_inbound(
    st: &AppState,
    route: Route,
    msg: &NewInboundMessage,
) -> Response {
    match st.store.record_inbound(msg).await {
        Ok(InboundOutcome::Stored {
            message_id,
            contact_id,
        }) => {
            st.metrics.webhook(route, Outcome::Stored);
            tracing::debug!(provider = msg.provider.as_str(), id = %msg.provider_message_id, message_id, contact_id, kind = %msg.kind, media = msg.media.len(), "inbound stored");
            if !msg.media.is_empty() {
                st.work.notify_one();
            }
            st.notify_events();
            empty(StatusCode::NO_CONTENT)
        }
        Ok(InboundOutcome::Duplicate) => {
            st.metrics.webhook(route, Outcome::Duplicate);
            tracing::debug!(provider = msg.provider.as_str(), id = %msg.provider_message_id, "inbound duplicate");
            empty(StatusCode::NO_CONTENT)
        }
        Err(e) => {
            st.metrics.webhook(route, Outcome::Unavailable);
            tracing::error!(provider = msg.provider.as_str(), error = %e, "store failed on an inbound message; answering 503");
            empty(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    match st.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let backlog = st.store.job_backlog().await.ok();
    let mut body = st.metrics.render(backlog, now_millis());
    body.push_str(
        &st.outbound
            .render_metrics(st.store.outbox_pending().await.ok()),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Counts bodies refused for size (axum answers 413 before the handler runs).
async fn count_too_large(
    State((st, route)): State<(Arc<AppState>, Route)>,
    response: Response,
) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        st.metrics.webhook(route, Outcome::BadRequest);
        tracing::debug!(?route, "webhook body over GATEWAY_MAX_BODY_BYTES (413)");
    }
    response
}

/// The full router over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route(
            crate::twilio::PATH,
            post(crate::twilio::webhook).layer(middleware::map_response_with_state(
                (state.clone(), Route::Twilio),
                count_too_large,
            )),
        )
        .route(
            crate::baileys::PATH,
            post(crate::baileys::webhook).layer(middleware::map_response_with_state(
                (state.clone(), Route::Baileys),
                count_too_large,
            )),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::api::router(state.clone()))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// A running gateway: HTTP server and worker.
pub struct App {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    worker: JoinHandle<()>,
    outbound: Vec<JoinHandle<()>>,
}

/// Opens the store and media store named by `config`, then starts the service.
pub async fn build(config: Config) -> Result<App, AppError> {
    let store = crate::open::open_store(&config).await?;
    let media = crate::open::open_media(&config).await?;
    build_with(config, store, media).await
}

/// Starts the service on a given store (tests wrap stores to inject failures), with the media
/// store named by `config`.
pub async fn build_with_store(config: Config, store: Arc<dyn Store>) -> Result<App, AppError> {
    let media = crate::open::open_media(&config).await?;
    build_with(config, store, media).await
}

/// Starts the service on a given store and media copier.
pub async fn build_with(
    config: Config,
    store: Arc<dyn Store>,
    media: Arc<dyn MediaCopier>,
) -> Result<App, AppError> {
    store.migrate().await?;
    let api_token = match &config.api_token {
        Some(t) => t.clone(),
        None => load_or_create_token(&config.data_dir)?,
    };
    if config.twilio.is_none() {
        tracing::warn!(
            "Twilio is not configured (PUBLIC_BASE_URL, TWILIO_AUTH_TOKEN): the Twilio webhook answers 403"
        );
    }
    if config.baileys_webhook_secret.is_none() {
        tracing::warn!("BAILEYS_WEBHOOK_SECRET is not set: the sidecar webhook answers 401");
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (events_tx, _) = watch::channel(0u64);
    let outbound = crate::outbound::Outbound::new(&config, now_millis());
    let state = Arc::new(AppState {
        outbound,
        config,
        store,
        metrics: Metrics::default(),
        api_token,
        media,
        work: Notify::new(),
        events: events_tx,
        shutdown: shutdown_rx,
    });
    let listener = tokio::net::TcpListener::bind(state.config.bind)
        .await
        .map_err(|source| AppError::Bind {
            addr: state.config.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| AppError::Bind {
        addr: state.config.bind,
        source,
    })?;
    let app = router(state.clone());
    let mut stop = state.shutdown_signal();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
    });
    let worker = tokio::spawn(Worker::new(state.clone()).run());
    let outbound = vec![
        tokio::spawn(crate::outbound::deliver::run(state.clone())),
        tokio::spawn(crate::outbound::monitor(state.clone())),
    ];
    tracing::info!(%addr, "gateway listening");
    Ok(App {
        addr,
        state,
        shutdown: shutdown_tx,
        server,
        worker,
        outbound,
    })
}

impl App {
    /// The bound address (the real port when `GATEWAY_BIND` used port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shared state (store, metrics, token).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The API bearer token in use.
    pub fn api_token(&self) -> &Secret {
        &self.state.api_token
    }

    /// Stops accepting requests, lets in-flight ones finish, stops the worker.
    pub async fn shutdown(self) -> Result<(), AppError> {
        let _ = self.shutdown.send(true);
        let served = self.server.await;
        let _ = self.worker.await;
        for task in self.outbound {
            let _ = task.await;
        }
        self.state.store.close().await;
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AppError::Serve(e)),
            Err(join) => Err(AppError::Serve(std::io::Error::other(join.to_string()))),
        }
    }

    /// Runs until `signal` completes (or the server fails), then shuts down gracefully.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), AppError> {
        tokio::select! {
            () = signal => {}
            res = &mut self.server => {
                let _ = self.shutdown.send(true);
                let _ = self.worker.await;
                for task in std::mem::take(&mut self.outbound) {
                    let _ = task.await;
                }
                self.state.store.close().await;
                return match res {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(AppError::Serve(e)),
                    Err(join) => Err(AppError::Serve(std::io::Error::other(join.to_string()))),
                };
            }
        }
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

/// File holding the generated API token.
pub const TOKEN_FILE: &str = "api-token";

/// Reads `<data_dir>/api-token`, or generates a token and writes it there with mode 0600.
/// Logs the path, never the token.
fn load_or_create_token(data_dir: &Path) -> Result<Secret, AppError> {
    let dir_err = |source| AppError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(dir_err)?;
    let path = data_dir.join(TOKEN_FILE);
    let file_err = |source| AppError::DataDir {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 16 => {
            tracing::info!(path = %path.display(), "API token read from file");
            return Ok(Secret::new(text.trim()));
        }
        Ok(_) => {
            return Err(file_err(std::io::Error::other(
                "token file exists but holds no usable token; delete it or set GATEWAY_API_TOKEN",
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_err(e)),
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let token = hex::encode(bytes);
    write_private(&path, token.as_bytes()).map_err(file_err)?;
    tracing::warn!(path = %path.display(), "GATEWAY_API_TOKEN not set: generated an API token and wrote it to this file");
    Ok(Secret::new(token))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_token_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_token(dir.path()).unwrap();
        let b = load_or_create_token(dir.path()).unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
