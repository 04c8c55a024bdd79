//! A tiny in-test WhatsApp relay for the messaging layer: answers usync from a registry of
//! devices, serves prekey bundles (consuming one-time prekeys), forwards `<message>` per `<to>`
//! device the way the server does (fact sheet 6.7 "server → recipient", 9.4), acks messages
//! and forwards receipts. Every node crosses the binary codec in both directions.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};

use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_binary::{Jid, Node};
use wa_core::DeviceState;
use wa_core::StoredPreKey;
use wa_core::messaging::{MemoryStore, Messenger, MessengerEvent, Output, SendOutcome};
use wa_protos::wa::AdvSignedDeviceIdentity;

/// "Now" in unix millis.
pub const NOW: u64 = 1_795_000_000_000;
/// One-time prekeys each device uploads.
pub const PREKEYS: u32 = 20;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn wire(node: &Node) -> Node {
    wa_binary::decode(&wa_binary::encode(node)).expect("node survives the codec")
}

/// The public keys one device published.
pub struct Published {
    registration: u32,
    identity: [u8; 32],
    spk: (u32, [u8; 32], [u8; 64]),
    prekeys: VecDeque<(u32, [u8; 32])>,
}

struct Account {
    lid: String,
    devices: BTreeMap<u16, Published>,
}

/// A paired device with its messenger and store, as a driver would hold them.
pub struct Peer {
    pub device: DeviceState,
    pub messenger: Messenger,
    pub store: MemoryStore,
    pub rng: ChaCha20Rng,
    pub events: Vec<MessengerEvent>,
    pub jid: Jid,
}

impl Peer {
    /// A fresh device `pn:device` with LID `lid:device`, `PREKEYS` one-time prekeys.
    pub fn new(pn: &str, lid: &str, device: u16, name: &str, seed: u64) -> Self {
        let mut r = rng(seed);
        let mut state = DeviceState::generate(&mut r);
        let jid = Jid::new(pn, "s.whatsapp.net").with_device(device);
        state.jid = Some(jid.to_string());
        state.lid = Some(Jid::new(lid, "lid").with_device(device).to_string());
        state.push_name = Some(name.into());
        state.account = Some(
            AdvSignedDeviceIdentity {
                details: Some(vec![1, 2, 3]),
                account_signature_key: Some(vec![7; 32]),
                account_signature: Some(vec![8; 64]),
                device_signature: Some(vec![9; 64]),
            }
            .encode_to_vec(),
        );
        for record in wa_signal::PreKeyRecord::generate_batch(1, PREKEYS, &mut r) {
            state.prekeys.insert(
                record.id,
                StoredPreKey {
                    key_pair: record.key_pair,
                },
            );
        }
        state.next_prekey_id = PREKEYS + 1;
        let store = MemoryStore::from_device(&state);
        let messenger = Messenger::new(&state, &mut r).unwrap();
        Peer {
            device: state,
            messenger,
            store,
            rng: r,
            events: Vec::new(),
            jid,
        }
    }

    /// Simulates a restart: the store goes through JSON, the messenger is rebuilt.
    pub fn restart(&mut self) {
        let saved = serde_json::to_string(&self.store).unwrap();
        let device = serde_json::to_string(&self.device).unwrap();
        self.store = serde_json::from_str(&saved).unwrap();
        self.device = serde_json::from_str(&device).unwrap();
        self.messenger = Messenger::new(&self.device, &mut self.rng).unwrap();
    }

    pub fn send_text(&mut self, to: &str, text: &str, now: u64) -> String {
        let id = wa_core::messaging::generate_message_id(now, &self.jid.user, &mut self.rng);
        let to = Jid::parse(to).unwrap();
        self.messenger
            .send_text(&mut self.store, &to, text, &id, now, &mut self.rng)
            .unwrap();
        id
    }

    /// Incoming texts seen so far, in order.
    pub fn texts(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                MessengerEvent::Incoming(m) => m.text.clone(),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, pred: impl Fn(&MessengerEvent) -> bool) -> usize {
        self.events.iter().filter(|e| pred(e)).count()
    }
}

/// The relay ("server").
#[derive(Default)]
pub struct Relay {
    accounts: BTreeMap<String, Account>,
    inbox: BTreeMap<String, VecDeque<Node>>,
    /// Message stanzas clients sent, in order.
    pub sent_messages: Vec<Node>,
    /// Receipts and acks clients sent, in order.
    pub client_receipts: Vec<Node>,
    pub client_acks: Vec<Node>,
    pub usync_queries: usize,
    pub bundle_queries: usize,
    /// When set, IQs are swallowed (to exercise timeouts).
    pub mute_iqs: bool,
    /// When set, usync answers carry no `<lid>` and forwarded messages no `sender_lid`.
    pub hide_lids: bool,
    /// When set, the message ack carries this error code.
    pub ack_error: Option<u16>,
    pub t: u64,
}

impl Relay {
    pub fn register(&mut self, peer: &Peer) {
        let d = &peer.device;
        let lid = d.own_lid().unwrap().user;
        let published = Published {
            registration: d.registration_id,
            identity: d.identity_key.public,
            spk: (
                d.signed_prekey.id,
                d.signed_prekey.key_pair.public,
                d.signed_prekey.signature,
            ),
            prekeys: d
                .prekeys
                .iter()
                .map(|(id, k)| (*id, k.key_pair.public))
                .collect(),
        };
        self.accounts
            .entry(peer.jid.user.clone())
            .or_insert_with(|| Account {
                lid,
                devices: BTreeMap::new(),
            })
            .devices
            .insert(peer.jid.device, published);
    }

    /// Bundles left for `pn:device`.
    pub fn prekeys_left(&self, pn: &str, device: u16) -> usize {
        self.accounts[pn].devices[&device].prekeys.len()
    }

    fn account_of(&self, jid: &Jid) -> Option<(String, &Account)> {
        match jid.server.as_str() {
            "lid" => self
                .accounts
                .iter()
                .find(|(_, a)| a.lid == jid.user)
                .map(|(pn, a)| (pn.clone(), a)),
            _ => self.accounts.get(&jid.user).map(|a| (jid.user.clone(), a)),
        }
    }

    fn deliver(&mut self, to: &Jid, node: Node) {
        let user = self
            .account_of(to)
            .map(|(pn, _)| pn)
            .unwrap_or_else(|| to.user.clone());
        let key = Jid::new(user, "s.whatsapp.net")
            .with_device(to.device)
            .to_string();
        self.inbox.entry(key).or_default().push_back(wire(&node));
    }

    /// Queue `node` for `peer` directly (tests that craft stanzas).
    pub fn inject(&mut self, peer: &Peer, node: Node) {
        self.deliver(&peer.jid, node);
    }

    /// Takes everything queued for `peer` (tests that reorder or replay).
    pub fn take_inbox(&mut self, peer: &Peer) -> Vec<Node> {
        self.inbox
            .remove(&peer.jid.to_string())
            .map(Vec::from)
            .unwrap_or_default()
    }

    /// Handles one node a client sent.
    pub fn handle(&mut self, from: &Jid, node: Node) {
        let node = wire(&node);
        match node.tag.as_str() {
            "iq" if self.mute_iqs => {}
            "iq" => self.on_iq(from, &node),
            "message" => self.on_message(from, node),
            "receipt" => {
                self.client_receipts.push(node.clone());
                let Some(to) = node.attr_jid("to") else {
                    return;
                };
                let mut fwd = Node::new("receipt")
                    .attr("from", from.clone())
                    .attr("id", node.attr_str("id").unwrap().into_owned())
                    .attr("t", self.t);
                if let Some(kind) = node.attr_str("type") {
                    fwd = fwd.attr("type", kind.into_owned());
                }
                if !node.nodes().is_empty() {
                    fwd = fwd.children(node.nodes().to_vec());
                }
                if to.server == "s.whatsapp.net" || to.server == "lid" {
                    let to = self
                        .account_of(&to)
                        .map(|(pn, _)| Jid::new(pn, "s.whatsapp.net").with_device(to.device));
                    if let Some(to) = to {
                        self.deliver(&to, fwd);
                    }
                }
            }
            "ack" => self.client_acks.push(node),
            other => panic!("unexpected client node <{other}>"),
        }
    }

    fn on_iq(&mut self, from: &Jid, iq: &Node) {
        let id = iq.attr_str("id").unwrap().into_owned();
        let reply = Node::new("iq")
            .attr("from", "s.whatsapp.net")
            .attr("type", "result")
            .attr("id", id);
        let reply = match iq.attr_str("xmlns").as_deref() {
            Some("usync") => {
                self.usync_queries += 1;
                let list = iq.child("usync").unwrap().child("list").unwrap();
                let users = list
                    .children_with_tag("user")
                    .map(|u| self.usync_user(&u.attr_jid("jid").unwrap()))
                    .collect();
                reply.children(vec![
                    Node::new("usync").children(vec![Node::new("list").children(users)]),
                ])
            }
            Some("encrypt") => {
                self.bundle_queries += 1;
                let key = iq.child("key").unwrap();
                let users = key
                    .children_with_tag("user")
                    .map(|u| self.bundle_user(&u.attr_jid("jid").unwrap()))
                    .collect();
                reply.children(vec![Node::new("list").children(users)])
            }
            other => panic!("unexpected iq xmlns {other:?}"),
        };
        self.deliver(from, reply);
    }

    fn usync_user(&self, jid: &Jid) -> Node {
        let Some((_, account)) = self.account_of(jid) else {
            return Node::new("user").attr("jid", jid.clone());
        };
        let devices = account
            .devices
            .keys()
            .map(|d| {
                let n = Node::new("device").attr("id", *d);
                if *d == 0 { n } else { n.attr("key-index", "1") }
            })
            .collect();
        let mut children =
            vec![Node::new("devices").children(vec![Node::new("device-list").children(devices)])];
        if !self.hide_lids {
            children.push(Node::new("lid").attr("val", Jid::new(account.lid.clone(), "lid")));
        }
        Node::new("user")
            .attr("jid", jid.clone())
            .children(children)
    }

    fn bundle_user(&mut self, jid: &Jid) -> Node {
        let pn = self.account_of(jid).map(|(pn, _)| pn);
        let published = pn.and_then(|pn| {
            self.accounts
                .get_mut(&pn)
                .and_then(|a| a.devices.get_mut(&jid.device))
        });
        let Some(p) = published else {
            return Node::new("user")
                .attr("jid", jid.clone())
                .children(vec![Node::new("error").attr("code", "404")]);
        };
        let be3 = |id: u32| id.to_be_bytes()[1..].to_vec();
        let mut children = vec![
            Node::new("registration").bytes(p.registration.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(p.identity.to_vec()),
            Node::new("skey").children(vec![
                Node::new("id").bytes(be3(p.spk.0)),
                Node::new("value").bytes(p.spk.1.to_vec()),
                Node::new("signature").bytes(p.spk.2.to_vec()),
            ]),
        ];
        if let Some((id, key)) = p.prekeys.pop_front() {
            children.push(Node::new("key").children(vec![
                Node::new("id").bytes(be3(id)),
                Node::new("value").bytes(key.to_vec()),
            ]));
        }
        Node::new("user")
            .attr("jid", jid.clone())
            .children(children)
    }

    fn on_message(&mut self, from: &Jid, node: Node) {
        self.sent_messages.push(node.clone());
        self.t += 1;
        let id = node.attr_str("id").unwrap().into_owned();
        let to = node.attr_jid("to").unwrap();
        let mut ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", id.clone())
            .attr("from", to.clone())
            .attr("t", self.t);
        if let Some(code) = self.ack_error {
            ack = ack.attr("error", code);
            self.deliver(from, ack);
            return;
        }
        self.deliver(from, ack);
        let sender_lid = self
            .account_of(from)
            .filter(|_| !self.hide_lids)
            .map(|(_, a)| Jid::new(a.lid.clone(), "lid").with_device(from.device));
        let push_name = format!("name-of-{}", from.user);
        let participants = match node.child("participants") {
            Some(p) => p.nodes().to_vec(),
            // A resend addressed to one device: `<message to=device><enc/></message>`.
            None => vec![
                Node::new("to")
                    .attr("jid", to.clone())
                    .children(node.children_with_tag("enc").cloned().collect()),
            ],
        };
        for to_node in participants {
            let device = to_node.attr_jid("jid").unwrap();
            let Some(enc) = to_node.child("enc") else {
                continue;
            };
            let mut fwd = Node::new("message")
                .attr("from", from.clone())
                .attr("id", id.clone())
                .attr("t", self.t)
                .attr("type", node.attr_str("type").unwrap().into_owned())
                .attr("notify", push_name.clone());
            if let Some(lid) = &sender_lid {
                fwd = fwd.attr("sender_lid", lid.clone());
            }
            if device.user == from.user {
                fwd = fwd.attr("recipient", to.clone());
            }
            self.deliver(&device, fwd.children(vec![enc.clone()]));
        }
    }
}

/// Moves nodes between peers and the relay until nothing moves.
pub fn pump(relay: &mut Relay, peers: &mut [&mut Peer], now: u64) {
    for _ in 0..10_000 {
        let mut moved = false;
        for peer in peers.iter_mut() {
            while let Some(out) = peer.messenger.poll_output() {
                moved = true;
                match out {
                    Output::Send(node) => relay.handle(&peer.jid.clone(), node),
                    Output::Event(e) => peer.events.push(e),
                }
            }
            let key = peer.jid.to_string();
            let queued: Vec<Node> = relay.inbox.remove(&key).map(Vec::from).unwrap_or_default();
            for node in queued {
                moved = true;
                let consumed =
                    peer.messenger
                        .handle_node(&mut peer.store, &node, now, &mut peer.rng);
                assert!(consumed, "messenger ignored {node:?}");
            }
        }
        if !moved {
            return;
        }
    }
    panic!("relay did not settle");
}

/// Feeds `nodes` to `peer` in the given order, then pumps.
pub fn feed(relay: &mut Relay, peer: &mut Peer, nodes: Vec<Node>, now: u64) {
    for node in nodes {
        peer.messenger
            .handle_node(&mut peer.store, &node, now, &mut peer.rng);
    }
    pump(relay, &mut [peer], now);
}

// ---- scenario helpers shared by the messaging test files ----

pub const A_PN: &str = "972500000001";
pub const A_LID: &str = "100000000000001";
pub const B_PN: &str = "972500000002";
pub const B_LID: &str = "100000000000002";

pub fn a(device: u16, seed: u64) -> Peer {
    Peer::new(A_PN, A_LID, device, "Alice", seed)
}
pub fn b(device: u16, seed: u64) -> Peer {
    Peer::new(B_PN, B_LID, device, "Bob", seed)
}
pub fn b_user() -> String {
    format!("{B_PN}@s.whatsapp.net")
}
pub fn a_user() -> String {
    format!("{A_PN}@s.whatsapp.net")
}

pub fn setup() -> (Relay, Peer, Peer) {
    let mut relay = Relay::default();
    let alice = a(3, 1);
    let bob = b(5, 2);
    relay.register(&alice);
    relay.register(&bob);
    (relay, alice, bob)
}

pub fn sent(peer: &Peer, id: &str) -> bool {
    peer.events.iter().any(|e| {
        matches!(e, MessengerEvent::SendFinished { message_id, outcome: SendOutcome::Sent { .. } }
            if message_id == id)
    })
}

/// Enc types of the `<to>` entries of the last message stanza sent.
pub fn last_enc_types(relay: &Relay) -> Vec<(String, String)> {
    let m = relay.sent_messages.last().unwrap();
    m.child("participants")
        .unwrap()
        .nodes()
        .iter()
        .map(|t| {
            let enc = t.child("enc").unwrap();
            (
                t.attr_str("jid").unwrap().into_owned(),
                enc.attr_str("type").unwrap().into_owned(),
            )
        })
        .collect()
}

pub fn enc(kind: &str, bytes: Vec<u8>) -> Node {
    Node::new("enc")
        .attr("v", "2")
        .attr("type", kind)
        .bytes(bytes)
}

pub fn nack_code(relay: &Relay) -> Option<String> {
    relay
        .client_acks
        .iter()
        .rev()
        .find(|a| a.attr_str("class").as_deref() == Some("message"))
        .and_then(|a| a.attr_str("error").map(|e| e.into_owned()))
}
