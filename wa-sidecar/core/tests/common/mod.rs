//! A minimal in-test WhatsApp server (Noise responder from `wa-noise`, nodes from `wa-binary`)
//! and a phone that scans QR codes the way fact sheet section 9.2 describes.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_binary::{Node, decode_frame_payload, encode_frame_payload};
use wa_core::{CertPolicy, ConnEvent, Connection, DeviceState};
use wa_crypto::KeyPair;
use wa_noise::{
    CertSerials, FrameDecoder, FrameEncoder, ServerHandshake, Transport, Validity, build_cert_chain,
};
use wa_protos::wa::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac, ClientPayload,
};

/// "Now" in unix millis (2026-11-18).
pub const NOW: u64 = 1_795_000_000_000;
pub const PHONE: &str = "972500000001";
pub const LID: &str = "100000000000001";
pub const DEVICE: u16 = 4;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The server side of one connection.
pub struct Server {
    pub root: KeyPair,
    static_key: KeyPair,
    chain: Vec<u8>,
    decoder: FrameDecoder,
    encoder: FrameEncoder,
    handshake: Option<ServerHandshake>,
    transport: Option<Transport>,
    /// The client's ClientPayload and Noise static key, once ClientFinish arrived.
    pub payload: Option<ClientPayload>,
    pub client_static: Option<[u8; 32]>,
    /// Nodes from the client not answered automatically, oldest first.
    pub inbox: VecDeque<Node>,
    /// Whether `w:p` pings are answered automatically.
    pub answer_pings: bool,
    pub pings_seen: usize,
    rng: ChaCha20Rng,
}

impl Server {
    pub fn new(seed: u64) -> Self {
        let mut r = rng(seed);
        let root = KeyPair::generate(&mut r);
        let intermediate = KeyPair::generate(&mut r);
        let static_key = KeyPair::generate(&mut r);
        let secs = NOW / 1000;
        let chain = build_cert_chain(
            &root,
            &intermediate,
            &static_key.public,
            CertSerials {
                intermediate: 1,
                leaf: 2,
            },
            Validity {
                not_before: secs - 86_400,
                not_after: secs + 365 * 86_400,
            },
            &mut r,
        );
        Server {
            root,
            static_key,
            chain,
            decoder: FrameDecoder::server(),
            encoder: FrameEncoder::server(),
            handshake: None,
            transport: None,
            payload: None,
            client_static: None,
            inbox: VecDeque::new(),
            answer_pings: true,
            pings_seen: 0,
            rng: r,
        }
    }

    pub fn policy(&self) -> CertPolicy {
        CertPolicy::danger_trust_root(self.root.public)
    }

    /// Moves every transmit the client may send now into the server, answering the handshake
    /// and (if enabled) keepalive pings. Returns how many WS messages moved.
    pub fn pump(&mut self, conn: &mut Connection, now: u64) -> usize {
        let mut moved = 0;
        while let Some(bytes) = conn.poll_transmit() {
            moved += 1;
            self.feed(conn, now, &bytes);
        }
        moved
    }

    /// Processes one WS message the client sent.
    pub fn feed(&mut self, conn: &mut Connection, now: u64, bytes: &[u8]) {
        let frames = self.decoder.push(bytes).expect("client framing");
        for frame in frames {
            self.on_frame(conn, now, &frame);
        }
    }

    fn on_frame(&mut self, conn: &mut Connection, now: u64, frame: &[u8]) {
        if self.payload.is_none() && self.handshake.is_none() {
            let (hs, hello) = ServerHandshake::read_client_hello(
                frame,
                &self.static_key,
                &self.chain,
                &mut self.rng,
            )
            .expect("client hello");
            self.handshake = Some(hs);
            let bytes = self.encoder.encode(&hello).unwrap();
            conn.handle_bytes(now, &bytes, &mut self.rng)
                .expect("server hello accepted");
            return;
        }
        if let Some(hs) = self.handshake.take() {
            let (finished, transport) = hs.read_client_finish(frame).expect("client finish");
            self.payload = Some(ClientPayload::decode(finished.payload.as_slice()).unwrap());
            self.client_static = Some(finished.client_static);
            self.transport = Some(transport);
            return;
        }
        let plain = self
            .transport
            .as_mut()
            .unwrap()
            .decrypt(frame)
            .expect("client frame");
        let node = decode_frame_payload(&plain).expect("client node");
        if node.tag == "iq" && attr(&node, "xmlns") == "w:p" {
            self.pings_seen += 1;
            if self.answer_pings {
                let reply = Node::new("iq")
                    .attr("type", "result")
                    .attr("id", attr(&node, "id"))
                    .attr("from", "s.whatsapp.net");
                self.send(conn, now, &reply);
            }
            return;
        }
        self.inbox.push_back(node);
    }

    /// Runs the handshake for a fresh `conn`.
    pub fn handshake(&mut self, conn: &mut Connection, now: u64) {
        self.pump(conn, now);
        self.pump(conn, now);
        assert!(self.payload.is_some(), "handshake did not finish");
    }

    /// Encrypts and delivers `node` to the client.
    pub fn send(&mut self, conn: &mut Connection, now: u64, node: &Node) {
        let bytes = self.frame_bytes(node);
        conn.handle_bytes(now, &bytes, &mut self.rng)
            .expect("client accepts node");
    }

    /// The WS bytes for `node` (encrypted and framed) without delivering them.
    pub fn frame_bytes(&mut self, node: &Node) -> Vec<u8> {
        self.frame_raw(&encode_frame_payload(node))
    }

    /// Encrypts and frames an arbitrary frame body.
    pub fn frame_raw(&mut self, body: &[u8]) -> Vec<u8> {
        let ct = self.transport.as_mut().unwrap().encrypt(body).unwrap();
        self.encoder.encode(&ct).unwrap()
    }

    /// The next node the client sent (after pumping).
    pub fn next(&mut self, conn: &mut Connection, now: u64) -> Node {
        self.pump(conn, now);
        self.inbox.pop_front().expect("client sent a node")
    }
}

pub fn attr(node: &Node, key: &str) -> String {
    node.attr_str(key)
        .map(|s| s.into_owned())
        .unwrap_or_default()
}

/// All pending events.
pub fn events(conn: &mut Connection) -> Vec<ConnEvent> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// `<iq type="set" xmlns="md" id><pair-device><ref>…</ref>×n</pair-device></iq>`.
pub fn pair_device(id: &str, n: usize) -> (Node, Vec<String>) {
    let refs: Vec<String> = (0..n).map(|i| format!("2@ref{i}+/=")).collect();
    let node = Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "set")
        .attr("id", id)
        .attr("xmlns", "md")
        .children(vec![
            Node::new("pair-device").children(
                refs.iter()
                    .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec()))
                    .collect(),
            ),
        ]);
    (node, refs)
}

/// What the phone reads from a QR string.
pub struct Scanned {
    pub reference: String,
    pub noise: [u8; 32],
    pub identity: [u8; 32],
    pub adv_secret: [u8; 32],
}

pub fn scan(qr: &str) -> Scanned {
    let body = qr
        .strip_prefix("https://wa.me/settings/linked_devices#")
        .expect("prefix");
    let f: Vec<&str> = body.split(',').collect();
    assert_eq!(f.len(), 5);
    let key = |s: &str| <[u8; 32]>::try_from(STANDARD.decode(s).unwrap().as_slice()).unwrap();
    Scanned {
        reference: f[0].to_owned(),
        noise: key(f[1]),
        identity: key(f[2]),
        adv_secret: key(f[3]),
    }
}

/// The phone: an account key that issues device identities (fact sheet 9.2 step 4).
pub struct Phone {
    pub account: KeyPair,
    pub details: Vec<u8>,
}

pub struct Forgery {
    pub wrong_adv_secret: bool,
    pub wrong_account_signer: bool,
}

impl Phone {
    pub fn new(seed: u64) -> Self {
        Phone {
            account: KeyPair::generate(&mut rng(seed)),
            details: Vec::new(),
        }
    }

    /// `<iq type="set" id><pair-success>…</pair-success></iq>` for the scanned companion.
    pub fn pair_success(&mut self, id: &str, scanned: &Scanned, forgery: Forgery) -> Node {
        let mut r = rng(77);
        self.details = AdvDeviceIdentity {
            raw_id: Some(1234),
            timestamp: Some(NOW / 1000),
            key_index: Some(2),
            account_type: Some(0),
            device_type: Some(0),
        }
        .encode_to_vec();
        let signer = if forgery.wrong_account_signer {
            KeyPair::generate(&mut r)
        } else {
            self.account.clone()
        };
        let msg = [&[6u8, 0][..], &self.details, &scanned.identity].concat();
        let signed = AdvSignedDeviceIdentity {
            details: Some(self.details.clone()),
            account_signature_key: Some(self.account.public.to_vec()),
            account_signature: Some(signer.sign(&msg, &mut r).to_vec()),
            device_signature: None,
        }
        .encode_to_vec();
        let key = if forgery.wrong_adv_secret {
            [9u8; 32]
        } else {
            scanned.adv_secret
        };
        let container = AdvSignedDeviceIdentityHmac {
            details: Some(signed.clone()),
            hmac: Some(wa_crypto::hmac_sha256(&key, &signed).to_vec()),
            account_type: Some(0),
        }
        .encode_to_vec();
        Node::new("iq")
            .attr("from", "s.whatsapp.net")
            .attr("type", "set")
            .attr("id", id)
            .attr("t", NOW / 1000)
            .children(vec![Node::new("pair-success").children(vec![
                Node::new("device-identity").bytes(container),
                Node::new("device")
                    .attr("jid", format!("{PHONE}:{DEVICE}@s.whatsapp.net"))
                    .attr("lid", format!("{LID}:{DEVICE}@lid")),
                Node::new("platform").attr("name", "android"),
            ])])
    }
}

pub const HONEST: Forgery = Forgery {
    wrong_adv_secret: false,
    wrong_account_signer: false,
};

/// Runs a full registration + scan and returns the paired device state.
pub fn paired_device(seed: u64) -> DeviceState {
    let mut r = rng(seed);
    let mut server = Server::new(seed + 1);
    let mut conn = Connection::new(DeviceState::generate(&mut r), server.policy(), NOW, &mut r);
    server.handshake(&mut conn, NOW);
    let (pd, _) = pair_device("pd1", 6);
    server.send(&mut conn, NOW, &pd);
    let qr = events(&mut conn)
        .into_iter()
        .find_map(|e| match e {
            ConnEvent::Qr { data, .. } => Some(data),
            _ => None,
        })
        .unwrap();
    let mut phone = Phone::new(seed + 2);
    let ps = phone.pair_success("ps1", &scan(&qr), HONEST);
    server.send(&mut conn, NOW, &ps);
    assert!(events(&mut conn).contains(&ConnEvent::DeviceChanged));
    conn.device().clone()
}

/// `<stream:error code><conflict type/></stream:error>`.
pub fn stream_error(code: Option<&str>, conflict: Option<&str>) -> Node {
    let mut n = Node::new("stream:error");
    if let Some(c) = code {
        n = n.attr("code", c);
    }
    if let Some(t) = conflict {
        n = n.children(vec![Node::new("conflict").attr("type", t)]);
    }
    n
}
