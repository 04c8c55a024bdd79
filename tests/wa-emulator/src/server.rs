//! The tokio driver: WebSocket listener, per-connection tasks (Noise handshake, then the
//! [`crate::session::Session`] state machine), shared state and fault switches, and the admin HTTP listener.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::OsRng;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::certs::ServerIdentity;
use crate::connection;
use crate::delivery::Deliveries;
use crate::qr::QrData;
use crate::registry::{DeviceView, Registry};
use crate::session::{PairError, ScanError};

use crate::stanzas::StreamError;

/// Where to listen and which root key to use.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// WebSocket listen address (port 0 picks a free port).
    pub ws_addr: SocketAddr,
    /// Admin HTTP listen address (port 0 picks a free port).
    pub admin_addr: SocketAddr,
    /// Seed for the root key pair; `None` makes a random root per start.
    pub root_seed: Option<[u8; 32]>,
    /// How many refs (QR codes) `pair-device` carries: the real 6 by default (the first lives
    /// 60 s, each later one 20 s, so a companion gives up after 160 s); fewer make tests of
    /// QR exhaustion shorter.
    pub pair_refs: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            ws_addr: local,
            admin_addr: local,
            root_seed: None,
            pair_refs: crate::session::PAIR_REFS,
        }
    }
}

/// A command from the admin side to one connection task.
#[derive(Debug)]
pub(crate) enum Command {
    /// The phone scanned this connection's QR code.
    Scan {
        qr: QrData,
        phone: String,
        reply: oneshot::Sender<Result<DeviceView, ScanFailure>>,
    },
    /// The phone's user typed this pairing code for account `phone`.
    EnterCode {
        phone: String,
        code: String,
        reply: oneshot::Sender<Result<DeviceView, ScanFailure>>,
    },
    /// Send `<stream:error>` and close.
    StreamError(StreamError),
    /// Drop the TCP connection without a goodbye.
    Drop,
    /// Send this stanza (relayed from another device).
    Deliver(wa_binary::Node),
}

/// Why a scan did not produce a paired device.
#[derive(Debug, thiserror::Error)]
pub enum ScanFailure {
    /// The QR string does not parse (the caller's fault).
    #[error("bad QR string: {0}")]
    BadQr(#[from] crate::qr::QrError),
    /// No unpaired companion is connected with this QR's Noise key.
    #[error("no unpaired connection with this QR's noise key")]
    NoSuchCompanion,
    /// No connected companion asked for a pairing code for this phone number.
    #[error("no connected companion asked for a pairing code for this phone")]
    NoCodeRequest,
    /// The companion's connection went away.
    #[error("the companion disconnected")]
    Gone,
    /// The companion did not answer pair-success in time.
    #[error("the companion did not answer pair-success within {0:?}")]
    Timeout(Duration),
    /// The scan could not start (bad request for this connection).
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The companion did not complete pairing.
    #[error(transparent)]
    Pair(#[from] PairError),
}

/// How long a scan waits for the companion's `pair-device-sign`.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(30);

/// The phone scans `qr` for account `phone`: finds the companion by the QR's Noise key, sends
/// pair-success and waits until the companion signed (or refused) the device identity.
pub(crate) async fn scan(
    shared: &Shared,
    qr: &str,
    phone: &str,
) -> Result<DeviceView, ScanFailure> {
    let qr = crate::qr::parse_qr(qr)?;
    let tx = shared
        .conns()
        .values()
        .find(|c| c.unpaired && c.noise_public == qr.noise_public)
        .map(|c| c.tx.clone())
        .ok_or(ScanFailure::NoSuchCompanion)?;
    let (reply, answer) = oneshot::channel();
    tx.send(Command::Scan {
        qr,
        phone: phone.to_owned(),
        reply,
    })
    .map_err(|_| ScanFailure::Gone)?;
    match tokio::time::timeout(SCAN_TIMEOUT, answer).await {
        Err(_) => Err(ScanFailure::Timeout(SCAN_TIMEOUT)),
        Ok(Err(_)) => Err(ScanFailure::Gone),
        Ok(Ok(result)) => result,
    }
}

/// How long `enter_code` waits for the companion's code request to be processed. Baileys shows
/// its code as soon as the request is written, without waiting for the server's answer, so a
/// quick caller may get here first.
pub const CODE_REQUEST_WAIT: Duration = Duration::from_secs(10);

/// The phone's user types `code` (as shown by the companion, `XXXX-XXXX`) for account
/// `phone`; the same as `POST /admin/pair-code`. Finds the companion that asked for a code for
/// `phone` (waiting up to [`CODE_REQUEST_WAIT`] for its request) and waits until it signed the
/// device identity, or until its key bundle proved the code wrong ([`PairError::WrongCode`];
/// the code may then be entered again).
pub(crate) async fn enter_code(
    shared: &Shared,
    phone: &str,
    code: &str,
) -> Result<DeviceView, ScanFailure> {
    let deadline = tokio::time::Instant::now() + CODE_REQUEST_WAIT;
    let tx = loop {
        let notified = shared.code_requested.notified();
        tokio::pin!(notified);
        // registered before looking, so a request processed in between is not missed
        notified.as_mut().enable();
        let found = shared
            .conns()
            .values()
            .find(|c| c.unpaired && c.pair_phone.as_deref() == Some(phone))
            .map(|c| c.tx.clone());
        if let Some(tx) = found {
            break tx;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Err(ScanFailure::NoCodeRequest);
        }
    };
    let (reply, answer) = oneshot::channel();
    tx.send(Command::EnterCode {
        phone: phone.to_owned(),
        code: code.to_owned(),
        reply,
    })
    .map_err(|_| ScanFailure::Gone)?;
    match tokio::time::timeout(SCAN_TIMEOUT, answer).await {
        Err(_) => Err(ScanFailure::Timeout(SCAN_TIMEOUT)),
        Ok(Err(_)) => Err(ScanFailure::Gone),
        Ok(Ok(result)) => result,
    }
}

/// What the admin side knows about a live connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub(crate) tx: mpsc::UnboundedSender<Command>,
    pub(crate) noise_public: [u8; 32],
    pub(crate) jid: Option<String>,
    pub(crate) unpaired: bool,
    /// The phone number this unpaired companion asked a pairing code for.
    pub(crate) pair_phone: Option<String>,
}

/// Fault switches read by every connection.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) delay_ms: AtomicU64,
    pub(crate) refuse_logins: AtomicBool,
    pub(crate) refuse_logouts: AtomicBool,
}

/// State shared by the listener, the connections and the admin API.
pub(crate) struct Shared {
    pub(crate) identity: ServerIdentity,
    registry: Mutex<Registry>,
    conns: Mutex<BTreeMap<u64, ConnInfo>>,
    deliveries: Mutex<Deliveries>,
    pub(crate) faults: Faults,
    pub(crate) pair_refs: usize,
    next_conn: AtomicU64,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Signalled whenever a companion asked for a pairing code ([`ConnInfo::pair_phone`]).
    pub(crate) code_requested: tokio::sync::Notify,
}

impl Shared {
    /// Locks the registry. A poisoned lock (a panic elsewhere) still yields the data: the
    /// registry holds plain values that stay consistent between statements.
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the table of unacknowledged deliveries.
    pub(crate) fn deliveries(&self) -> MutexGuard<'_, Deliveries> {
        self.deliveries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Connection `jid` ended: what it never acknowledged goes back to the front of its
    /// offline queue.
    pub(crate) fn requeue_unacked(&self, jid: &str) {
        let nodes = self.deliveries().take(jid);
        if !nodes.is_empty() {
            tracing::info!(%jid, count = nodes.len(), "unacknowledged messages queued again");
            self.registry().requeue_front(jid, nodes);
        }
    }

    /// Locks the connection table.
    pub(crate) fn conns(&self) -> MutexGuard<'_, BTreeMap<u64, ConnInfo>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Current outbound delay.
    pub(crate) fn delay(&self) -> Option<Duration> {
        match self.faults.delay_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
}

impl Shared {
    /// Delivers `node` to the connected device `jid`, or queues it until that device is back.
    pub(crate) fn route(&self, jid: &str, node: wa_binary::Node) {
        let tx = self
            .conns()
            .values()
            .find(|c| c.jid.as_deref() == Some(jid))
            .map(|c| c.tx.clone());
        let node = match tx {
            Some(tx) => match tx.send(Command::Deliver(node.clone())) {
                Ok(()) => {
                    // until the device acknowledges it (it may be in the channel when the
                    // connection ends)
                    self.deliveries().sent(jid, &node);
                    return;
                }
                Err(mpsc::error::SendError(cmd)) => match cmd {
                    Command::Deliver(node) => node,
                    _ => return,
                },
            },
            None => node,
        };
        tracing::debug!(%jid, "device offline; stanza queued");
        self.registry().queue_offline(jid, node);
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Resolves once shutdown was requested (or the handle is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Entry point: start an emulator.
pub struct Emulator;

impl Emulator {
    /// Binds both listeners and starts serving. Returns once both sockets are bound.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<EmulatorHandle> {
        let ws = TcpListener::bind(config.ws_addr).await?;
        let admin = TcpListener::bind(config.admin_addr).await?;
        let ws_addr = ws.local_addr()?;
        let admin_addr = admin.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            identity: ServerIdentity::generate(config.root_seed, unix_now(), &mut OsRng),
            registry: Mutex::new(Registry::new()),
            deliveries: Mutex::default(),
            conns: Mutex::new(BTreeMap::new()),
            faults: Faults::default(),
            pair_refs: config.pair_refs.max(1),
            next_conn: AtomicU64::new(1),
            shutdown: shutdown_rx,
            code_requested: tokio::sync::Notify::new(),
        });
        let ws_task = tokio::spawn(accept_loop(ws, shared.clone()));
        let router = crate::admin::router(shared.clone());
        let mut admin_shutdown = shared.shutdown.clone();
        let admin_task = tokio::spawn(async move {
            let stop = async move { stopped(&mut admin_shutdown).await };
            if let Err(e) = axum::serve(admin, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "admin server stopped");
            }
        });
        tracing::info!(%ws_addr, %admin_addr, root = %shared.identity.root_public_hex(), "emulator started");
        Ok(EmulatorHandle {
            ws_addr,
            admin_addr,
            shared,
            shutdown: shutdown_tx,
            tasks: vec![ws_task, admin_task],
        })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection::serve(stream, peer, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// A running emulator. Dropping it stops the listeners and closes every connection.
pub struct EmulatorHandle {
    ws_addr: SocketAddr,
    admin_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl EmulatorHandle {
    /// `ws://127.0.0.1:PORT/ws/chat`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/chat", self.ws_addr)
    }

    /// `http://127.0.0.1:PORT`, the admin API base.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// The root public key clients must trust (32 bytes).
    pub fn root_public_key(&self) -> [u8; 32] {
        self.shared.identity.root.public
    }

    /// The root public key as hex.
    pub fn root_public_key_hex(&self) -> String {
        self.shared.identity.root_public_hex()
    }

    /// Acts as the phone scanning `qr` (as printed by the client) for account `phone`; the same
    /// as `POST /admin/scan`. Returns the paired device once the companion signed.
    pub async fn scan(&self, qr: &str, phone: &str) -> Result<DeviceView, ScanFailure> {
        scan(&self.shared, qr, phone).await
    }

    /// Acts as the phone's user typing the pairing `code` for account `phone`; the same as
    /// `POST /admin/pair-code`. Returns the paired device once the companion signed.
    pub async fn enter_code(&self, phone: &str, code: &str) -> Result<DeviceView, ScanFailure> {
        enter_code(&self.shared, phone, code).await
    }

    /// The registered devices.
    pub fn devices(&self) -> Vec<DeviceView> {
        self.shared.registry().device_views()
    }

    /// Stops listening and closes every connection.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
