//! One client connection: WebSocket upgrade, Noise XX (or IK / XXfallback) as responder, then
//! the `Session` state machine fed with decrypted nodes and admin commands.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::rngs::OsRng;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use wa_binary::Node;
use wa_noise::{FrameDecoder, FrameEncoder, Responder, ServerHandshake, Transport};

use crate::payload::read_client_payload;
use crate::registry::DeviceView;
use crate::server::{Command, ConnInfo, ScanFailure, Shared, unix_now};
use crate::session::{Ctx, Output, Session};

/// How long a client may take to send each handshake message (clients wait 20 s themselves).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

type Ws = WebSocketStream<TcpStream>;

/// Why a connection ended early (logged, never panics).
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("websocket: {0}")]
    Ws(Box<tokio_tungstenite::tungstenite::Error>),
    #[error("client closed during the handshake")]
    ClosedEarly,
    #[error("handshake timed out")]
    Timeout,
    #[error("framing: {0}")]
    Frame(#[from] wa_noise::FrameError),
    #[error("handshake: {0}")]
    Handshake(#[from] wa_noise::HandshakeError),
    #[error("client payload: {0}")]
    Payload(#[from] crate::payload::PayloadError),
    #[error("transport: {0}")]
    Transport(#[from] wa_noise::TransportError),
}

impl From<tokio_tungstenite::tungstenite::Error> for ConnError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        ConnError::Ws(Box::new(e))
    }
}

/// Serves one accepted TCP connection until it closes.
pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let ws = match tokio_tungstenite::accept_async(stream).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "websocket upgrade failed");
            return;
        }
    };
    let id = shared.next_conn_id();
    if let Err(e) = run(ws, id, shared.clone()).await {
        tracing::info!(%peer, conn = id, error = %e, "connection ended");
    }
    let info = shared.conns().remove(&id);
    if let Some(jid) = info.and_then(|i| i.jid) {
        shared.requeue_unacked(&jid);
    }
}

/// Encrypted node I/O on an established connection.
struct Link {
    ws: Ws,
    decoder: FrameDecoder,
    encoder: FrameEncoder,
    transport: Transport,
}

impl Link {
    async fn send(&mut self, node: &Node, shared: &Shared) -> Result<(), ConnError> {
        if let Some(delay) = shared.delay() {
            tokio::time::sleep(delay).await;
        }
        tracing::debug!(tag = %node.tag, "send");
        let plain = wa_binary::encode_frame_payload(node);
        let sealed = self.transport.encrypt(&plain)?;
        let frame = self.encoder.encode(&sealed)?;
        self.ws.send(Message::Binary(frame.into())).await?;
        Ok(())
    }

    /// Decrypts the frames in one WebSocket message; undecodable nodes are logged and skipped.
    fn open(&mut self, bytes: &[u8]) -> Result<Vec<Node>, ConnError> {
        let mut nodes = Vec::new();
        for frame in self.decoder.push(bytes)? {
            let plain = self.transport.decrypt(&frame)?;
            match wa_binary::decode_frame_payload(&plain) {
                Ok(node) => nodes.push(node),
                Err(e) => tracing::warn!(error = %e, "undecodable node from client"),
            }
        }
        Ok(nodes)
    }
}

/// Reads WebSocket messages until the decoder yields a frame.
async fn next_frame(ws: &mut Ws, decoder: &mut FrameDecoder) -> Result<Vec<u8>, ConnError> {
    loop {
        let msg = tokio::time::timeout(HANDSHAKE_TIMEOUT, ws.next())
            .await
            .map_err(|_| ConnError::Timeout)?
            .ok_or(ConnError::ClosedEarly)??;
        match msg {
            Message::Binary(bytes) => {
                if let Some(frame) = decoder.push(&bytes)?.into_iter().next() {
                    return Ok(frame);
                }
            }
            Message::Close(_) => return Err(ConnError::ClosedEarly),
            _ => {}
        }
    }
}

async fn run(mut ws: Ws, id: u64, shared: Arc<Shared>) -> Result<(), ConnError> {
    let mut decoder = FrameDecoder::server();
    let mut encoder = FrameEncoder::server();
    let hello = next_frame(&mut ws, &mut decoder).await?;
    let identity = &shared.identity;
    // XX, or Noise IK from a client that cached our static key (whatsapp-rust), answered with
    // XXfallback when its cached key is not ours (fact sheet section 1.6).
    let responder =
        ServerHandshake::respond(&hello, &identity.noise_static, &identity.chain, &mut OsRng)?;
    tracing::debug!(conn = id, ?responder, "client hello");
    let (finished, transport) = match responder {
        Responder::Ik {
            server_hello,
            finished,
            transport,
        } => {
            ws.send(Message::Binary(encoder.encode(&server_hello)?.into()))
                .await?;
            (finished, transport)
        }
        Responder::Xx {
            handshake,
            server_hello,
        }
        | Responder::XxFallback {
            handshake,
            server_hello,
        } => {
            ws.send(Message::Binary(encoder.encode(&server_hello)?.into()))
                .await?;
            let finish_frame = next_frame(&mut ws, &mut decoder).await?;
            handshake.read_client_finish(&finish_frame)?
        }
    };
    let intent = read_client_payload(&finished.payload, finished.client_static)?;
    tracing::info!(conn = id, ?intent, "client finished the handshake");

    let mut link = Link {
        ws,
        decoder,
        encoder,
        transport,
    };
    let (mut session, first) = with_ctx(&shared, |ctx| {
        Session::open(intent, &finished.client_static, ctx)
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    shared.conns().insert(
        id,
        ConnInfo {
            tx,
            noise_public: finished.client_static,
            jid: session.logged_in_jid().map(str::to_owned),
            unpaired: session.is_unpaired(),
            pair_phone: None,
        },
    );

    let mut waiter: Option<oneshot::Sender<Result<DeviceView, ScanFailure>>> = None;
    let mut shutdown = shared.shutdown.clone();
    let mut pending = first;
    loop {
        let jid = session.logged_in_jid();
        if carry_out(&mut link, &mut pending, &mut waiter, &shared, (id, jid)).await? {
            break;
        }
        tokio::select! {
            _ = crate::server::stopped(&mut shutdown) => break,
            cmd = rx.recv() => match cmd {
                None => break,
                Some(Command::Drop) => {
                    tracing::info!(conn = id, "dropping connection (fault)");
                    break;
                }
                Some(Command::Deliver(node)) => pending.push(Output::Send(node)),
                Some(Command::StreamError(err)) => {
                    pending.push(Output::Send(err.node()));
                    pending.push(Output::Close(format!("stream error {err:?}")));
                }
                Some(Command::Scan { qr, phone, reply }) => {
                    let started = with_ctx(&shared, |ctx| session.scan(&qr, &phone, ctx));
                    start_pairing(started, reply, &mut pending, &mut waiter);
                }
                Some(Command::EnterCode { phone, code, reply }) => {
                    let started = with_ctx(&shared, |ctx| session.enter_code(&phone, &code, ctx));
                    start_pairing(started, reply, &mut pending, &mut waiter);
                }
            },
            msg = link.ws.next() => match msg {
                None | Some(Ok(Message::Close(_))) => break,
                Some(Err(e)) => return finish(session, waiter, Err(e.into())),
                Some(Ok(Message::Binary(bytes))) => {
                    for node in link.open(&bytes)? {
                        tracing::debug!(conn = id, tag = %node.tag, xmlns = %crate::stanzas::attr(&node, "xmlns"), "recv");
                        if let Some(jid) = session.logged_in_jid()
                            && !shared.deliveries().from_device(jid, &node)
                        {
                            continue;
                        }
                        pending.extend(with_ctx(&shared, |ctx| session.on_node(&node, ctx)));
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    }
    finish(session, waiter, Ok(()))
}

/// Runs `f` with the session context: the locked registry, the clock and the fault switches.
fn with_ctx<T>(shared: &Shared, f: impl FnOnce(&mut Ctx<'_, OsRng>) -> T) -> T {
    let mut registry = shared.registry();
    let mut ctx = Ctx {
        registry: &mut registry,
        now: unix_now(),
        refuse_logins: shared.faults.refuse_logins.load(Ordering::Relaxed),
        refuse_logouts: shared.faults.refuse_logouts.load(Ordering::Relaxed),
        pair_refs: shared.pair_refs,
        rng: OsRng,
    };
    f(&mut ctx)
}

/// A scan or a typed code started pairing: its outputs go next, and `reply` waits for the
/// outcome; or it could not start, which `reply` learns now.
fn start_pairing(
    started: Result<Vec<Output>, crate::session::ScanError>,
    reply: oneshot::Sender<Result<DeviceView, ScanFailure>>,
    pending: &mut Vec<Output>,
    waiter: &mut Option<oneshot::Sender<Result<DeviceView, ScanFailure>>>,
) {
    match started {
        Ok(out) => {
            *pending = out;
            *waiter = Some(reply);
        }
        Err(e) => {
            let _ = reply.send(Err(e.into()));
        }
    }
}

/// Performs queued outputs in order. Returns true when the connection must close.
async fn carry_out(
    link: &mut Link,
    pending: &mut Vec<Output>,
    waiter: &mut Option<oneshot::Sender<Result<DeviceView, ScanFailure>>>,
    shared: &Shared,
    (id, jid): (u64, Option<&str>),
) -> Result<bool, ConnError> {
    for out in std::mem::take(pending) {
        match out {
            Output::Send(node) => {
                if let Some(jid) = jid {
                    // before the bytes leave: the device may answer before we get back here
                    shared.deliveries().sent(jid, &node);
                }
                link.send(&node, shared).await?;
            }
            Output::Paired(result) => {
                if let Some(w) = waiter.take() {
                    let _ = w.send(result.map_err(ScanFailure::from));
                }
            }
            Output::Route { to, node } => shared.route(&to, node),
            Output::LinkCodeRequested { phone } => {
                if let Some(info) = shared.conns().get_mut(&id) {
                    info.pair_phone = Some(phone);
                }
                shared.code_requested.notify_waiters();
            }
            Output::Close(reason) => {
                tracing::info!(%reason, "closing connection");
                let _ = link.ws.close(None).await;
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn finish(
    mut session: Session,
    mut waiter: Option<oneshot::Sender<Result<DeviceView, ScanFailure>>>,
    result: Result<(), ConnError>,
) -> Result<(), ConnError> {
    for out in session.on_close() {
        if let (Output::Paired(r), Some(w)) = (out, waiter.take()) {
            let _ = w.send(r.map_err(ScanFailure::from));
        }
    }
    result
}
