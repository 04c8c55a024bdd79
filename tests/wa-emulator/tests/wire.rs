//! The emulator over a real socket, driven by a Rust client built from wa-noise's client
//! handshake: the certificate chain verifies against the emulator's root (and not WhatsApp's),
//! unknown logins get `<failure reason="401"/>`, pings are answered, faults and the admin API act.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use rand::rngs::OsRng;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Duration, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wa_binary::Node;
use wa_crypto::KeyPair;
use wa_emulator::stanzas::attr;
use wa_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use wa_noise::{
    CertPolicy, ClientHandshake, FrameDecoder, FrameEncoder, HandshakeError, Transport,
};
use wa_protos::wa::ClientPayload;
use wa_protos::wa::client_payload::DevicePairingRegistrationData;

const WAIT: Duration = Duration::from_secs(20);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Client {
    ws: Ws,
    enc: FrameEncoder,
    dec: FrameDecoder,
    transport: Transport,
    queue: Vec<Node>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn next_frame(ws: &mut Ws, dec: &mut FrameDecoder) -> Option<Vec<u8>> {
    loop {
        match timeout(WAIT, ws.next()).await.expect("server silent") {
            Some(Ok(Message::Binary(b))) => {
                if let Some(f) = dec.push(&b).unwrap().into_iter().next() {
                    return Some(f);
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Connects and runs the client handshake with `policy`; returns the client or the error.
async fn connect(
    emu: &EmulatorHandle,
    noise: &KeyPair,
    payload: &ClientPayload,
    policy: &CertPolicy,
) -> Result<Client, HandshakeError> {
    let (mut ws, _) = tokio_tungstenite::connect_async(emu.ws_url())
        .await
        .unwrap();
    let mut enc = FrameEncoder::client();
    let mut dec = FrameDecoder::client();
    let (hs, hello) = ClientHandshake::start(&mut OsRng);
    ws.send(Message::Binary(enc.encode(&hello).unwrap().into()))
        .await
        .unwrap();
    let server_hello = next_frame(&mut ws, &mut dec).await.unwrap();
    let (finish, transport, _server) = hs.read_server_hello(
        &server_hello,
        noise,
        &payload.encode_to_vec(),
        now(),
        policy,
    )?;
    ws.send(Message::Binary(enc.encode(&finish).unwrap().into()))
        .await
        .unwrap();
    Ok(Client {
        ws,
        enc,
        dec,
        transport,
        queue: Vec::new(),
    })
}

impl Client {
    async fn send(&mut self, node: &Node) {
        let sealed = self
            .transport
            .encrypt(&wa_binary::encode_frame_payload(node))
            .unwrap();
        let frame = self.enc.encode(&sealed).unwrap();
        self.ws.send(Message::Binary(frame.into())).await.unwrap();
    }

    /// The next node, or `None` once the server closed the connection.
    async fn recv(&mut self) -> Option<Node> {
        loop {
            if !self.queue.is_empty() {
                return Some(self.queue.remove(0));
            }
            let msg = timeout(WAIT, self.ws.next()).await.expect("server silent");
            let bytes = match msg {
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            };
            for frame in self.dec.push(&bytes).unwrap() {
                let plain = self.transport.decrypt(&frame).unwrap();
                self.queue
                    .push(wa_binary::decode_frame_payload(&plain).unwrap());
            }
        }
    }
}

fn registration(identity: &KeyPair) -> ClientPayload {
    ClientPayload {
        passive: Some(false),
        device_pairing_data: Some(DevicePairingRegistrationData {
            e_regid: Some(77u32.to_be_bytes().to_vec()),
            e_keytype: Some(vec![5]),
            e_ident: Some(identity.public.to_vec()),
            e_skey_id: Some(vec![0, 0, 1]),
            e_skey_val: Some(vec![3; 32]),
            e_skey_sig: Some(vec![4; 64]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn admin(emu: &EmulatorHandle, method: &str, path: &str, body: Value) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", emu.admin_url());
    let req = if method == "GET" {
        client.get(url)
    } else {
        client.post(url).json(&body)
    };
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn chain_verifies_only_against_the_emulator_root() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let noise = KeyPair::generate(&mut OsRng);
    let login = ClientPayload {
        username: Some(972500000009),
        device: Some(1),
        ..Default::default()
    };
    let err = connect(&emu, &noise, &login, &CertPolicy::whatsapp())
        .await
        .err()
        .expect("WhatsApp's root must not verify the emulator's chain");
    assert!(matches!(err, HandshakeError::Cert(_)), "{err:?}");

    // Trusting the emulator's root: handshake completes; the unknown device is refused.
    let policy = CertPolicy::danger_trust_root(emu.root_public_key());
    let mut client = connect(&emu, &noise, &login, &policy).await.unwrap();
    let failure = client.recv().await.unwrap();
    assert_eq!(failure.tag, "failure");
    assert_eq!(attr(&failure, "reason"), "401");
    assert!(client.recv().await.is_none(), "server closes after failure");
}

#[tokio::test]
async fn unpaired_client_gets_refs_pings_and_stream_errors() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let policy = CertPolicy::danger_trust_root(emu.root_public_key());
    let noise = KeyPair::generate(&mut OsRng);
    let identity = KeyPair::generate(&mut OsRng);
    let mut client = connect(&emu, &noise, &registration(&identity), &policy)
        .await
        .unwrap();
    let pair_device = client.recv().await.unwrap();
    assert_eq!(pair_device.child("pair-device").unwrap().nodes().len(), 6);

    client
        .send(
            &Node::new("iq")
                .attr("id", "p1")
                .attr("type", "get")
                .attr("xmlns", "w:p")
                .attr("to", "s.whatsapp.net")
                .children(vec![Node::new("ping")]),
        )
        .await;
    let pong = client.recv().await.unwrap();
    assert_eq!(
        (attr(&pong, "id").as_str(), attr(&pong, "type").as_str()),
        ("p1", "result")
    );

    // Admin: the connection is listed as unpaired; bad scans are refused with clear statuses.
    let (status, state) = admin(&emu, "GET", "/admin/state", json!(null)).await;
    assert_eq!(status, 200);
    assert_eq!(state["connections"][0]["unpaired"], true);
    let (status, _) = admin(
        &emu,
        "POST",
        "/admin/scan",
        json!({"qr": "nope", "phone": "1"}),
    )
    .await;
    assert_eq!(status, 400);
    use base64::Engine as _;
    let b64 = |k: &[u8]| base64::engine::general_purpose::STANDARD.encode(k);
    let stranger = format!(
        "2@x,{},{},{}",
        b64(&[8; 32]),
        b64(&identity.public),
        b64(&[1; 32])
    );
    let (status, _) = admin(
        &emu,
        "POST",
        "/admin/scan",
        json!({"qr": stranger, "phone": "1"}),
    )
    .await;
    assert_eq!(status, 404);
    let unknown_ref = format!(
        "2@x,{},{},{}",
        b64(&noise.public),
        b64(&identity.public),
        b64(&[1; 32])
    );
    let (status, _) = admin(
        &emu,
        "POST",
        "/admin/scan",
        json!({"qr": unknown_ref, "phone": "1"}),
    )
    .await;
    assert_eq!(status, 409);

    // Fault: conflict → <stream:error><conflict type="replaced"/></stream:error>, then close.
    let (status, body) = admin(
        &emu,
        "POST",
        "/admin/fault",
        json!({"kind": "stream_error", "code": "conflict"}),
    )
    .await;
    assert_eq!((status, body["connections"].as_u64()), (200, Some(1)));
    let err = client.recv().await.unwrap();
    assert_eq!(err.tag, "stream:error");
    assert_eq!(attr(err.child("conflict").unwrap(), "type"), "replaced");
    assert!(client.recv().await.is_none());

    let (status, _) = admin(
        &emu,
        "POST",
        "/admin/fault",
        json!({"kind": "stream_error", "code": "nonsense"}),
    )
    .await;
    assert_eq!(status, 400);
    let (_, state) = admin(
        &emu,
        "POST",
        "/admin/fault",
        json!({"kind": "delay_ms", "ms": 5}),
    )
    .await;
    assert_eq!(state["ok"], true);
    let (_, state) = admin(&emu, "GET", "/admin/state", json!(null)).await;
    assert_eq!(state["faults"]["delay_ms"], 5);
}
