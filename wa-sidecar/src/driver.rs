//! The connection driver: owns the WebSocket, the clock, the rng and the store around the
//! sans-IO [`wa_core::Connection`], and implements the reconnect policy.
//!
//! One session ([`Driver::session`]) follows the poll order `wa-core` documents: drain events
//! (persisting and flushing the device on `DeviceChanged` before anything else is sent), drain
//! transmits, then wait for a WebSocket message, the next timer, a `/send` command or shutdown.
//!
//! Once logged in, stanzas go to a [`wa_core::messaging::Messenger`] ([`crate::messaging`]):
//! its Signal writes land in sled ([`crate::signal_store`]), received messages and receipts in
//! the outbox ([`crate::outbox`]), and sled is flushed before any node it produced is sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use rand::rngs::OsRng;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use wa_core::pair_code::PhoneNumber;
use wa_core::{ConnError, ConnEvent, Connection, DeviceState};

use crate::backoff::Backoff;
use crate::messaging::{Messaging, SendCommand};
use crate::outbox::Outbox;
use crate::state::LinkState;
use crate::store::{Store, StoreError};
use crate::transport;

mod outcomes;
pub use outcomes::{DriverConfig, Goal, PairEnd, PairNotice, RunEnd, SessionEnd};

/// Consecutive 515 restarts without ever reaching "connected" after which the driver stops
/// reconnecting at once and applies the backoff (a server stuck asking for restarts must not
/// make us spin).
pub const MAX_IMMEDIATE_RESTARTS: u32 = 3;

/// How long the TCP/TLS/WebSocket connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The driver. Publishes its [`LinkState`] on a `watch` channel.
pub struct Driver {
    cfg: DriverConfig,
    store: Store,
    link: watch::Sender<LinkState>,
    shutdown: watch::Receiver<bool>,
    backoff: Backoff,
    attempts: Arc<AtomicU64>,
    reached_connected: bool,
    messaging: Option<Messaging>,
    commands: Option<mpsc::Receiver<SendCommand>>,
    command_tx: mpsc::Sender<SendCommand>,
    pairing_phone: Option<PhoneNumber>,
    pair_notices: Option<mpsc::UnboundedSender<PairNotice>>,
}

/// Queue depth of send commands from the HTTP API.
const COMMAND_QUEUE: usize = 64;

impl Driver {
    /// A driver over `store`; it stops when `shutdown` turns true.
    pub fn new(cfg: DriverConfig, store: Store, shutdown: watch::Receiver<bool>) -> Self {
        let (link, _) = watch::channel(LinkState::Connecting {
            jid: None,
            last_error: None,
        });
        let (command_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        Driver {
            cfg,
            store,
            link,
            shutdown,
            backoff: Backoff::default(),
            attempts: Arc::default(),
            reached_connected: false,
            messaging: None,
            commands: Some(commands),
            command_tx,
            pairing_phone: None,
            pair_notices: None,
        }
    }

    /// Where [`Driver::pair_by_code`] reports the code and any problems (replaces an earlier
    /// receiver).
    pub fn pairing_notices(&mut self) -> mpsc::UnboundedReceiver<PairNotice> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.pair_notices = Some(tx);
        rx
    }

    fn notify(&self, notice: PairNotice) {
        if let Some(tx) = &self.pair_notices {
            let _ = tx.send(notice);
        }
    }

    /// Where `POST /send` hands texts to send (they are refused while not logged in).
    pub fn sender(&self) -> mpsc::Sender<SendCommand> {
        self.command_tx.clone()
    }

    /// Uses `outbox` for received messages and receipts (by default a fresh handle on the
    /// store's outbox tree, whose forwarder then only learns of entries by polling).
    pub fn set_outbox(&mut self, outbox: Outbox) -> Result<(), StoreError> {
        self.messaging = Some(Messaging::open(&self.store, outbox)?);
        Ok(())
    }

    /// Follow the session state.
    pub fn subscribe(&self) -> watch::Receiver<LinkState> {
        self.link.subscribe()
    }

    /// Connection attempts so far (shared counter).
    pub fn attempts(&self) -> Arc<AtomicU64> {
        self.attempts.clone()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn set(&self, state: LinkState) {
        self.link.send_replace(state);
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The service loop for a paired device: connect, and reconnect — at once after 515, with
    /// Fibonacci backoff after failures — until logged out, replaced or shut down.
    pub async fn run(&mut self) -> Result<RunEnd, StoreError> {
        if let Some(reason) = self.store.logged_out_reason()? {
            self.set(LinkState::LoggedOut {
                reason: reason.clone(),
            });
            return Ok(RunEnd::LoggedOut(reason));
        }
        let mut restarts = 0u32;
        loop {
            if self.stopping() {
                return Ok(RunEnd::Shutdown);
            }
            let device = match self.store.load_device()? {
                Some(d) if d.is_paired() => d,
                _ => {
                    self.set(LinkState::NotPaired);
                    return Ok(RunEnd::NotPaired);
                }
            };
            let jid = device.jid.clone();
            let end = self.session(device, Goal::Serve).await?;
            restarts = match (&end, self.reached_connected) {
                (SessionEnd::RestartRequired, false) => restarts + 1,
                _ => 0,
            };
            match end {
                SessionEnd::RestartRequired if restarts <= MAX_IMMEDIATE_RESTARTS => {
                    tracing::info!("server asked for a new connection; reconnecting now");
                    self.backoff.on_disconnected(now_ms());
                }
                SessionEnd::RestartRequired => {
                    let reason = format!("server asked for {restarts} restarts in a row");
                    if self.wait_backoff(jid, reason).await {
                        return Ok(RunEnd::Shutdown);
                    }
                }
                SessionEnd::LoggedOut { reason } => {
                    tracing::warn!(%reason, "logged out by the server; not reconnecting");
                    self.store.set_logged_out(&reason)?;
                    self.set(LinkState::LoggedOut {
                        reason: reason.clone(),
                    });
                    return Ok(RunEnd::LoggedOut(reason));
                }
                SessionEnd::Replaced => {
                    tracing::warn!("another client replaced this session; stopping");
                    self.set(LinkState::Replaced);
                    return Ok(RunEnd::Replaced);
                }
                SessionEnd::Shutdown => return Ok(RunEnd::Shutdown),
                SessionEnd::Disconnected { reason } => {
                    if self.wait_backoff(jid, reason).await {
                        return Ok(RunEnd::Shutdown);
                    }
                }
                // not produced by Goal::Serve for a paired device; retry like a failure
                SessionEnd::Connected { .. }
                | SessionEnd::QrExhausted
                | SessionEnd::LogoutFailed { .. } => {
                    if self
                        .wait_backoff(jid, "session ended unexpectedly".into())
                        .await
                    {
                        return Ok(RunEnd::Shutdown);
                    }
                }
            }
        }
    }

    /// Sleeps for the next backoff delay; true when shutdown came first.
    async fn wait_backoff(&mut self, jid: Option<String>, reason: String) -> bool {
        if self.backoff.on_disconnected(now_ms()) {
            tracing::debug!("connection had been stable; backoff reset");
        }
        let delay = self.backoff.next_delay(&mut rand::thread_rng());
        tracing::warn!(
            %reason,
            attempt = self.backoff.attempts(),
            delay_ms = delay.as_millis() as u64,
            "connection lost; reconnecting after backoff"
        );
        self.set(LinkState::Connecting {
            jid,
            last_error: Some(reason),
        });
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            _ = shutdown.wait_for(|s| *s) => true,
        }
    }

    /// Pairs a fresh device by phone number: like [`Driver::pair`], but instead of QR codes
    /// the server is asked for a code for `phone`, reported on [`Driver::pairing_notices`] as
    /// [`PairNotice::Code`], to be entered on that phone.
    pub async fn pair_by_code(
        &mut self,
        device: DeviceState,
        phone: PhoneNumber,
    ) -> Result<PairEnd, StoreError> {
        self.pairing_phone = Some(phone);
        let end = self.pair(device).await;
        self.pairing_phone = None;
        end
    }

    /// Pairs a fresh device: shows QR codes (as [`LinkState::QrPending`]), saves the device on
    /// pair-success, follows the 515 restart and returns once logged in.
    pub async fn pair(&mut self, device: DeviceState) -> Result<PairEnd, StoreError> {
        let mut device = device;
        loop {
            match self.session(device, Goal::UntilConnected).await? {
                SessionEnd::Connected { jid } => return Ok(PairEnd::Paired { jid }),
                SessionEnd::RestartRequired => {
                    device = match self.store.load_device()? {
                        Some(d) if d.is_paired() => d,
                        _ => {
                            return Ok(PairEnd::Failed(
                                "server restarted the connection before pairing completed".into(),
                            ));
                        }
                    };
                    tracing::info!("paired; reconnecting to log in");
                }
                SessionEnd::QrExhausted => return Ok(PairEnd::QrExhausted),
                SessionEnd::Shutdown => return Ok(PairEnd::Shutdown),
                SessionEnd::LoggedOut { reason } => {
                    return Ok(PairEnd::Failed(format!(
                        "logged out during pairing: {reason}"
                    )));
                }
                SessionEnd::Replaced => {
                    return Ok(PairEnd::Failed("session replaced during pairing".into()));
                }
                SessionEnd::Disconnected { reason } | SessionEnd::LogoutFailed { reason, .. } => {
                    return Ok(PairEnd::Failed(reason));
                }
            }
        }
    }

    /// One connection from connect to its end. Store failures abort it (nothing further is
    /// sent once a required write failed).
    pub async fn session(
        &mut self,
        device: DeviceState,
        goal: Goal,
    ) -> Result<SessionEnd, StoreError> {
        self.reached_connected = false;
        self.set(LinkState::Connecting {
            jid: device.jid.clone(),
            last_error: None,
        });
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(url = %self.cfg.ws_url, attempt, "connecting");
        let ws = match transport::connect(&self.cfg.ws_url, CONNECT_TIMEOUT).await {
            Ok(ws) => ws,
            Err(e) => {
                return Ok(SessionEnd::Disconnected {
                    reason: e.to_string(),
                });
            }
        };
        let (mut sink, mut stream) = ws.split();
        if self.messaging.is_none() {
            let outbox = Outbox::open(&self.store)?;
            self.messaging = Some(Messaging::open(&self.store, outbox)?);
        }
        if let Some(m) = self.messaging.as_mut() {
            m.reset();
        }
        let mut commands = self.commands.take();
        let mut rng = OsRng;
        let pairing_phone = self.pairing_phone.clone().filter(|_| !device.is_paired());
        let mut conn = Connection::new(device, self.cfg.cert_policy.clone(), now_ms(), &mut rng);
        if let Some(phone) = pairing_phone {
            conn.use_pairing_code(phone);
        }
        let mut shutdown = self.shutdown.clone();
        let mut end: Option<SessionEnd> = None;
        let mut last_error: Option<String> = None;
        loop {
            while let Some(event) = conn.poll_event() {
                let ended = self.on_event(event, goal, &mut conn, &mut last_error)?;
                if end.is_none() {
                    end = ended;
                }
            }
            while let Some(bytes) = conn.poll_transmit() {
                if let Err(e) = sink.send(Message::Binary(bytes.into())).await {
                    end.get_or_insert(SessionEnd::Disconnected {
                        reason: format!("websocket send failed: {e}"),
                    });
                    break;
                }
            }
            if let Some(end) = end {
                let _ = sink.close().await;
                self.commands = commands;
                if let Some(m) = self.messaging.as_mut() {
                    m.reset();
                }
                return Ok(end);
            }
            let messenger_at = self.messaging.as_ref().and_then(Messaging::poll_timeout);
            let at = match (conn.poll_timeout(), messenger_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = at.map(|at| Duration::from_millis(at.saturating_sub(now_ms())));
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Err(e) = conn.handle_bytes(now_ms(), &bytes, &mut rng) {
                            log_conn_error(&e);
                            last_error = Some(e.to_string());
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        end = Some(SessionEnd::Disconnected {
                            reason: last_error.take().unwrap_or_else(|| {
                                "server closed the connection".into()
                            }),
                        });
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        end = Some(SessionEnd::Disconnected {
                            reason: format!("websocket error: {e}"),
                        });
                    }
                },
                () = sleep_opt(sleep) => {
                    conn.handle_timeout(now_ms(), &mut rng);
                    if let Some(m) = self.messaging.as_mut() {
                        m.handle_timeout(&mut conn)?;
                    }
                }
                cmd = recv_opt(&mut commands) => match (cmd, self.messaging.as_mut()) {
                    (Some(cmd), Some(m)) => m.send(&mut conn, cmd)?,
                    (Some(cmd), None) => {
                        let _ = cmd.reply.send(crate::messaging::SendResult::NotConnected);
                    }
                    (None, _) => commands = None,
                },
                _ = shutdown.wait_for(|s| *s) => end = Some(SessionEnd::Shutdown),
            }
        }
    }

    /// Acts on one event; returns how the session ends, if this event ends it.
    fn on_event(
        &mut self,
        event: ConnEvent,
        goal: Goal,
        conn: &mut Connection,
        last_error: &mut Option<String>,
    ) -> Result<Option<SessionEnd>, StoreError> {
        Ok(match event {
            ConnEvent::DeviceChanged => {
                self.store.save_device(conn.device())?;
                if let Some(m) = self.messaging.as_mut() {
                    m.device_changed(conn)?;
                }
                None
            }
            ConnEvent::Qr { data, expires_at } => {
                tracing::info!(expires_at, "new QR code to scan");
                self.set(LinkState::QrPending {
                    qr: data,
                    expires_at,
                });
                None
            }
            ConnEvent::QrExhausted => {
                tracing::warn!("all QR codes (or the pairing code) expired unused");
                Some(SessionEnd::QrExhausted)
            }
            ConnEvent::PairCode { code, expires_at } => {
                // the code is a secret until used: shown to the user, never logged
                tracing::info!(expires_at, "pairing code issued");
                self.notify(PairNotice::Code { code, expires_at });
                None
            }
            ConnEvent::PairingProblem { reason } => {
                tracing::warn!(%reason, "pairing by code");
                self.notify(PairNotice::Problem(reason));
                None
            }
            ConnEvent::LogoutFailed { code, reason } => {
                tracing::warn!(?code, %reason, "the server did not unlink this device");
                (goal == Goal::Logout).then_some(SessionEnd::LogoutFailed { code, reason })
            }
            ConnEvent::Paired { jid, lid, platform } => {
                tracing::info!(%jid, lid = ?lid.map(|l| l.to_string()), %platform, "paired");
                None
            }
            ConnEvent::Connected { jid, lid } => {
                let jid = jid.to_string();
                tracing::info!(%jid, "connected");
                self.backoff.on_connected(now_ms());
                self.reached_connected = true;
                if let Some(m) = self.messaging.as_mut() {
                    m.on_connected(conn)?;
                }
                self.set(LinkState::Connected {
                    jid: jid.clone(),
                    lid: lid.map(|l| l.to_string()),
                });
                match goal {
                    Goal::Serve => None,
                    Goal::UntilConnected => Some(SessionEnd::Connected { jid }),
                    Goal::Logout => {
                        tracing::info!("asking the server to unlink this device");
                        conn.logout(now_ms());
                        None
                    }
                }
            }
            ConnEvent::RestartRequired => Some(SessionEnd::RestartRequired),
            ConnEvent::LoggedOut { reason } => Some(SessionEnd::LoggedOut { reason }),
            ConnEvent::Replaced => Some(SessionEnd::Replaced),
            ConnEvent::Disconnected { reason } => Some(SessionEnd::Disconnected {
                reason: last_error.take().unwrap_or(reason),
            }),
            ConnEvent::Node(node) => {
                let handled = match self.messaging.as_mut() {
                    Some(m) => m.handle_node(conn, &node)?,
                    None => false,
                };
                if !handled {
                    tracing::debug!(tag = %node.tag, "stanza not handled by this build");
                }
                None
            }
        })
    }
}

fn log_conn_error(e: &ConnError) {
    match e {
        ConnError::Handshake(_) => tracing::error!(error = %e, "server refused: handshake failed"),
        _ => tracing::warn!(error = %e, "protocol error from server"),
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
