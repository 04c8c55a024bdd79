//! The sans-IO client connection: Noise handshake, then nodes in and out, timers.

use std::collections::VecDeque;

use prost::Message as _;
use rand_core::CryptoRngCore;
use wa_binary::{Node, decode_frame_payload, encode_frame_payload};
use wa_noise::{CertPolicy, ClientHandshake, FrameDecoder, FrameEncoder, Transport};

use crate::device::DeviceState;
use crate::events::{ConnError, ConnEvent};
use crate::payload::{login_payload, registration_payload};
use crate::stanza::{self, StreamOutcome};

/// Time allowed for the ServerHello (whatsmeow `NoiseHandshakeResponseTimeout`, whatsapp-rust
/// `NOISE_HANDSHAKE_RESPONSE_TIMEOUT`: 20 s).
pub const HANDSHAKE_TIMEOUT_MS: u64 = 20_000;
/// Keepalive interval bounds: a random interval in 20–30 s (whatsmeow `keepalive.go`
/// `KeepAliveIntervalMin/Max`).
pub const KEEPALIVE_MIN_MS: u64 = 20_000;
/// Upper keepalive bound, see [`KEEPALIVE_MIN_MS`].
pub const KEEPALIVE_MAX_MS: u64 = 30_000;
/// A ping with no frame at all received within this time means the connection is dead
/// (whatsapp-rust `wacore/src/protocol/keepalive.rs`: 20 s response deadline).
pub const KEEPALIVE_RESPONSE_TIMEOUT_MS: u64 = 20_000;
/// How long the login IQs (prekey count, `<active/>`) may take (Baileys `query` default 60 s).
pub const IQ_TIMEOUT_MS: u64 = 60_000;
/// How long a prekey upload may take before login moves on (Baileys races it against 30 s).
pub const UPLOAD_TIMEOUT_MS: u64 = 30_000;
/// How long to wait for the answer to our logout IQ before reporting `LoggedOut` anyway.
pub const LOGOUT_TIMEOUT_MS: u64 = 10_000;
/// First QR code lifetime, then each later one (Baileys `qrTimeout`, whatsmeow `qrchan.go`).
pub const QR_FIRST_MS: u64 = 60_000;
/// Lifetime of every QR code after the first.
pub const QR_NEXT_MS: u64 = 20_000;

pub(crate) enum Phase {
    Handshake {
        hs: Option<ClientHandshake>,
        payload: Vec<u8>,
        deadline: u64,
    },
    Open,
    Closed,
}

/// Why we sent an IQ whose answer this layer consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Ping { sent_at: u64 },
    PrekeyCount,
    PrekeyUpload { during_login: bool },
    Active,
    Logout,
    PairCodeHello,
    PairCodeFinish,
}

pub(crate) struct PendingIq {
    pub id: String,
    pub purpose: Purpose,
    pub deadline: u64,
}

pub(crate) struct QrRotation {
    pub refs: Vec<String>,
    pub index: usize,
    pub expires_at: u64,
}

/// A WhatsApp Web companion connection, sans-IO (quinn/rustls style): the driver owns the
/// WebSocket, the clock, the rng and storage.
///
/// Poll order, after [`Connection::new`] and after every call that takes `now`
/// ([`handle_bytes`](Self::handle_bytes), [`handle_timeout`](Self::handle_timeout),
/// [`send_node`](Self::send_node), [`send_iq`](Self::send_iq), [`logout`](Self::logout)):
/// 1. drain [`poll_event`](Self::poll_event); on [`ConnEvent::DeviceChanged`] persist
///    [`device`](Self::device) before going on;
/// 2. drain [`poll_transmit`](Self::poll_transmit), sending each buffer as one binary WebSocket
///    message (the first carries the `WA` header). Transmits queued after a `DeviceChanged` are
///    held back until that event has been polled, so a driver cannot send a reply before the
///    state it depends on was handed out for persisting;
/// 3. re-arm the timer with [`poll_timeout`](Self::poll_timeout) and call
///    [`handle_timeout`](Self::handle_timeout) when it fires.
///
/// After a terminal event (`QrExhausted`, `RestartRequired`, `LoggedOut`, `Replaced`,
/// `Disconnected`) the connection is closed: it ignores further input, has no timeout, and the
/// driver closes the socket once the remaining transmits are written.
pub struct Connection {
    pub(crate) device: DeviceState,
    pub(crate) cert_policy: CertPolicy,
    pub(crate) phase: Phase,
    pub(crate) transport: Option<Transport>,
    pub(crate) encoder: FrameEncoder,
    pub(crate) decoder: FrameDecoder,
    transmits: VecDeque<(Vec<u8>, u64)>,
    events: VecDeque<ConnEvent>,
    events_pushed: u64,
    events_polled: u64,
    barrier: u64,
    pending_nodes: Vec<Node>,
    id_prefix: String,
    id_counter: u64,
    pub(crate) pending: Vec<PendingIq>,
    pub(crate) last_recv: u64,
    pub(crate) next_ping: Option<u64>,
    pub(crate) qr: Option<QrRotation>,
    pub(crate) pair_code: Option<crate::pair_code_conn::PairCodeSession>,
    pub(crate) offline_done: bool,
    pub(crate) connected: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("paired", &self.device.is_paired())
            .field("open", &matches!(self.phase, Phase::Open))
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Starts a connection for `device`: a login payload when it is paired, a registration
    /// payload otherwise. The ClientHello (with the `WA` header, and the edge-routing pre-intro
    /// when `device.routing_info` is set) is queued for [`poll_transmit`](Self::poll_transmit).
    pub fn new(
        device: DeviceState,
        cert_policy: CertPolicy,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let payload = match device.is_paired().then(|| login_payload(&device)).flatten() {
            Some(login) => login,
            None => registration_payload(&device),
        }
        .encode_to_vec();
        let encoder = device
            .routing_info
            .as_deref()
            .and_then(|r| FrameEncoder::client_with_edge_routing(r).ok())
            .unwrap_or_else(FrameEncoder::client);
        let (hs, hello) = ClientHandshake::start(rng);
        let id_prefix = format!("{}.{}", rng.next_u32() as u16, rng.next_u32() as u16);
        let mut conn = Connection {
            device,
            cert_policy,
            phase: Phase::Handshake {
                hs: Some(hs),
                payload,
                deadline: now.saturating_add(HANDSHAKE_TIMEOUT_MS),
            },
            transport: None,
            encoder,
            decoder: FrameDecoder::client(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            events_pushed: 0,
            events_polled: 0,
            barrier: 0,
            pending_nodes: Vec::new(),
            id_prefix,
            id_counter: 0,
            pending: Vec::new(),
            last_recv: now,
            next_ping: None,
            qr: None,
            pair_code: None,
            offline_done: false,
            connected: false,
        };
        conn.push_frame(&hello);
        conn
    }

    /// The device credentials (persist them on [`ConnEvent::DeviceChanged`]).
    pub fn device(&self) -> &DeviceState {
        &self.device
    }

    /// True after [`ConnEvent::Connected`] until the connection closes.
    pub fn is_connected(&self) -> bool {
        self.connected && !self.is_closed()
    }

    /// True once a terminal event was emitted (or a fatal error returned).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// True once the server sent `<ib><offline count/></ib>` (offline queue delivered).
    pub fn offline_sync_done(&self) -> bool {
        self.offline_done
    }

    /// Feeds the bytes of one received WebSocket message. On `Err` the connection is closed
    /// and a [`ConnEvent::Disconnected`] is queued too. Undecodable nodes inside authentic
    /// frames are skipped (logged), not fatal. Input after close is ignored.
    pub fn handle_bytes(
        &mut self,
        now: u64,
        data: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(), ConnError> {
        if self.is_closed() {
            return Ok(());
        }
        let frames = match self.decoder.push(data) {
            Ok(frames) => frames,
            Err(e) => return Err(self.fatal(e.into())),
        };
        for frame in frames {
            if self.is_closed() {
                break;
            }
            self.handle_frame(now, &frame, rng)?;
        }
        Ok(())
    }

    fn handle_frame(
        &mut self,
        now: u64,
        frame: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(), ConnError> {
        if let Phase::Handshake { hs, payload, .. } = &mut self.phase {
            let Some(handshake) = hs.take() else {
                return Ok(());
            };
            let result = handshake.read_server_hello(
                frame,
                &self.device.noise_key,
                payload,
                now / 1000,
                &self.cert_policy,
            );
            let (finish, transport, _server) = match result {
                Ok(ok) => ok,
                Err(e) => return Err(self.fatal(e.into())),
            };
            self.push_frame(&finish);
            self.transport = Some(transport);
            self.phase = Phase::Open;
            self.last_recv = now;
            self.next_ping = Some(now.saturating_add(keepalive_interval(rng)));
            for node in std::mem::take(&mut self.pending_nodes) {
                self.send_encrypted(&node);
            }
            return Ok(());
        }
        let Some(transport) = self.transport.as_mut() else {
            return Ok(());
        };
        let plain = match transport.decrypt(frame) {
            Ok(p) => p,
            Err(e) => return Err(self.fatal(e.into())),
        };
        self.last_recv = now;
        match decode_frame_payload(&plain) {
            Ok(node) => self.handle_node(now, node, rng),
            Err(e) => tracing::warn!(error = %e, "skipping undecodable node from server"),
        }
        Ok(())
    }

    /// Processes expired timers: keepalive pings and their deadline, QR rotation, IQ timeouts,
    /// the handshake deadline.
    pub fn handle_timeout(&mut self, now: u64, rng: &mut impl CryptoRngCore) {
        if let Phase::Handshake { deadline, .. } = self.phase
            && now >= deadline
        {
            self.terminate(StreamOutcome::Disconnected("handshake timed out".into()));
            return;
        }
        self.expire_iqs(now);
        if self.is_closed() {
            return;
        }
        if self.qr.as_ref().is_some_and(|q| now >= q.expires_at) {
            self.rotate_qr(now);
        }
        if self.is_closed() {
            return;
        }
        if let Some(at) = self.next_ping
            && now >= at
        {
            let id = self.send_iq(stanza::keepalive_ping());
            self.track(
                id,
                Purpose::Ping { sent_at: now },
                now,
                KEEPALIVE_RESPONSE_TIMEOUT_MS,
            );
            self.next_ping = Some(now.saturating_add(keepalive_interval(rng)));
        }
    }

    fn expire_iqs(&mut self, now: u64) {
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| now >= p.deadline);
        self.pending = kept;
        for p in expired {
            match p.purpose {
                Purpose::Ping { sent_at } if self.last_recv < sent_at => {
                    self.terminate(StreamOutcome::Disconnected(
                        "no answer to keepalive ping".into(),
                    ));
                }
                Purpose::Ping { .. } => {}
                Purpose::PrekeyCount => self.terminate(StreamOutcome::Disconnected(
                    "server did not answer the prekey count".into(),
                )),
                Purpose::Active => self.terminate(StreamOutcome::Disconnected(
                    "server did not answer <active/>".into(),
                )),
                Purpose::PrekeyUpload { during_login } => {
                    tracing::warn!("prekey upload timed out");
                    if during_login {
                        self.send_active(now);
                    }
                }
                Purpose::Logout => self.push_event(ConnEvent::LogoutFailed {
                    code: None,
                    reason: format!("no answer from the server within {LOGOUT_TIMEOUT_MS} ms"),
                }),
                Purpose::PairCodeHello => self.terminate(StreamOutcome::Disconnected(
                    "server did not answer the pairing code request".into(),
                )),
                Purpose::PairCodeFinish => {
                    tracing::warn!("server did not answer companion_finish; still waiting");
                }
            }
            if self.is_closed() {
                return;
            }
        }
    }

    /// The next deadline (unix millis) at which [`handle_timeout`](Self::handle_timeout) must
    /// run; `None` once closed.
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.phase {
            Phase::Closed => None,
            Phase::Handshake { deadline, .. } => Some(*deadline),
            Phase::Open => [
                self.next_ping,
                self.qr.as_ref().map(|q| q.expires_at),
                self.pending.iter().map(|p| p.deadline).min(),
            ]
            .into_iter()
            .flatten()
            .min(),
        }
    }

    /// The next WebSocket message to send, if any may go out now.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match self.transmits.front() {
            Some((_, needs)) if *needs <= self.events_polled => {
                self.transmits.pop_front().map(|(b, _)| b)
            }
            _ => None,
        }
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        let ev = self.events.pop_front()?;
        self.events_polled += 1;
        Some(ev)
    }

    /// Sends a stanza as is (queued until the handshake completes). Ignored once closed.
    pub fn send_node(&mut self, node: Node) {
        match self.phase {
            Phase::Closed => {}
            Phase::Handshake { .. } => self.pending_nodes.push(node),
            Phase::Open => self.send_encrypted(&node),
        }
    }

    /// Sends an IQ, giving it a fresh id unless it has one, and returns the id. The answer
    /// comes back as [`ConnEvent::Node`]; the caller times it out.
    pub fn send_iq(&mut self, mut iq: Node) -> String {
        let id = match iq.attr_str("id") {
            Some(id) if !id.is_empty() => id.into_owned(),
            _ => {
                let id = self.next_id();
                iq.attrs.insert("id", id.clone());
                id
            }
        };
        self.send_node(iq);
        id
    }

    /// Drops one-time prekey `id` from [`device`](Self::device) after the messaging layer's
    /// store consumed it ([`crate::messaging::MessengerEvent::PreKeyConsumed`]), so that the
    /// next persisted device state no longer holds its private key. Queues
    /// [`ConnEvent::DeviceChanged`] when the key was present; returns whether it was.
    pub fn forget_prekey(&mut self, id: u32) -> bool {
        let removed = self.device.prekeys.remove(&id).is_some();
        if removed {
            self.push_event(ConnEvent::DeviceChanged);
        }
        removed
    }

    /// A fresh stanza id: `<rand u16>.<rand u16>-<counter>` (Baileys `generateMdTagPrefix`).
    pub fn next_id(&mut self) -> String {
        self.id_counter += 1;
        format!("{}-{}", self.id_prefix, self.id_counter)
    }

    /// Unlinks this device: sends `<iq xmlns="md" type="set"><remove-companion-device jid
    /// reason="user_initiated"/></iq>` and reports [`ConnEvent::LoggedOut`] when the server
    /// confirms, or [`ConnEvent::LogoutFailed`] (the device stays linked; the connection stays
    /// open) when it answers with an error or not within [`LOGOUT_TIMEOUT_MS`]. Without a
    /// paired, open connection it reports `LoggedOut` at once.
    pub fn logout(&mut self, now: u64) {
        let jid = self.device.own_jid();
        match (jid, &self.phase) {
            (_, Phase::Closed) => {}
            (Some(jid), Phase::Open) => {
                let node = stanza::iq(
                    "md",
                    "set",
                    vec![
                        Node::new("remove-companion-device")
                            .attr("jid", jid)
                            .attr("reason", "user_initiated"),
                    ],
                );
                let id = self.send_iq(node);
                self.track(id, Purpose::Logout, now, LOGOUT_TIMEOUT_MS);
            }
            _ => self.terminate(StreamOutcome::LoggedOut("user_initiated".into())),
        }
    }

    // ---- internals shared with `handlers` ----

    pub(crate) fn push_event(&mut self, event: ConnEvent) {
        let barrier = matches!(event, ConnEvent::DeviceChanged);
        self.events.push_back(event);
        self.events_pushed += 1;
        if barrier {
            self.barrier = self.events_pushed;
        }
    }

    fn push_frame(&mut self, body: &[u8]) {
        match self.encoder.encode(body) {
            Ok(bytes) => self.transmits.push_back((bytes, self.barrier)),
            Err(e) => {
                tracing::warn!(error = %e, "outgoing frame refused");
                self.terminate(StreamOutcome::Disconnected(format!("cannot send: {e}")));
            }
        }
    }

    fn send_encrypted(&mut self, node: &Node) {
        let Some(transport) = self.transport.as_mut() else {
            return;
        };
        match transport.encrypt(&encode_frame_payload(node)) {
            Ok(body) => self.push_frame(&body),
            Err(e) => self.terminate(StreamOutcome::Disconnected(format!("cannot send: {e}"))),
        }
    }

    pub(crate) fn track(&mut self, id: String, purpose: Purpose, now: u64, timeout: u64) {
        self.pending.push(PendingIq {
            id,
            purpose,
            deadline: now.saturating_add(timeout),
        });
    }

    /// Emits the terminal event for `outcome` and closes the connection.
    pub(crate) fn terminate(&mut self, outcome: StreamOutcome) {
        self.close_with(match outcome {
            StreamOutcome::Restart => ConnEvent::RestartRequired,
            StreamOutcome::LoggedOut(reason) => ConnEvent::LoggedOut { reason },
            StreamOutcome::Replaced => ConnEvent::Replaced,
            StreamOutcome::Disconnected(reason) => ConnEvent::Disconnected { reason },
        });
    }

    fn fatal(&mut self, error: ConnError) -> ConnError {
        self.terminate(StreamOutcome::Disconnected(error.to_string()));
        error
    }

    /// Closes the connection with `event` as its last event (no-op when already closed).
    pub(crate) fn close_with(&mut self, event: ConnEvent) {
        if self.is_closed() {
            return;
        }
        self.phase = Phase::Closed;
        self.pending.clear();
        self.qr = None;
        self.pair_code = None;
        self.next_ping = None;
        self.push_event(event);
    }
}

fn keepalive_interval(rng: &mut impl CryptoRngCore) -> u64 {
    KEEPALIVE_MIN_MS + u64::from(rng.next_u32()) % (KEEPALIVE_MAX_MS - KEEPALIVE_MIN_MS + 1)
}
