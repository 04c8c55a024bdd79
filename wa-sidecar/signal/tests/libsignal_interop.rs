//! Cross-check against npm `libsignal@6.0.0` (the Signal peer Baileys uses) and Baileys'
//! sender-key code (`@whiskeysockets/baileys@7.0.0-rc14`), driven through the line-based JSON
//! harness in `tests/interop/signal/harness.js`.
//!
//! Needs `node` and `npm ci` in `tests/interop/signal`. Without `node_modules` the test fails
//! when `CI` is set and prints a notice and passes otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use common::Party;
use serde_json::{Value, json};
use wa_signal::{
    CiphertextMessage, PreKeyBundle, PublicKey, SenderKeyRecord, create_sender_key_distribution,
    group_decrypt, group_encrypt, pad_message, process_sender_key_distribution, unpad_message,
};

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/signal")
}

struct Node {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Node {
    /// Starts the harness, or returns `None` (after the CI check) when it cannot run here.
    fn start() -> Option<Self> {
        let dir = harness_dir();
        if !dir.join("node_modules/libsignal").is_dir() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: run `npm ci` in {} before this test",
                dir.display()
            );
            eprintln!(
                "NOTICE: skipping libsignal interop: no node_modules in {} (run `npm ci` there)",
                dir.display()
            );
            return None;
        }
        let mut child = Command::new("node")
            .arg("harness.js")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node is installed (node_modules exists)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Some(Self {
            child,
            stdin,
            stdout,
        })
    }

    fn call(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "harness exited while handling {request}");
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            reply["ok"],
            json!(true),
            "harness failed {request}: {reply}"
        );
        reply
    }

    fn encrypt(&mut self, addr: &str, plaintext: &[u8]) -> CiphertextMessage {
        let r =
            self.call(json!({"op": "encrypt", "addr": addr, "plaintext": hex::encode(plaintext)}));
        let body = hex::decode(r["body"].as_str().unwrap()).unwrap();
        match r["type"].as_str().unwrap() {
            "pkmsg" => CiphertextMessage::PreKey(body),
            "msg" => CiphertextMessage::Whisper(body),
            other => panic!("unexpected type {other}"),
        }
    }

    fn decrypt(&mut self, addr: &str, msg: &CiphertextMessage) -> Vec<u8> {
        let r = self.call(json!({
            "op": "decrypt", "addr": addr, "type": msg.enc_type(), "body": hex::encode(msg.bytes())
        }));
        hex::decode(r["plaintext"].as_str().unwrap()).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key_from_hex(v: &Value) -> PublicKey {
    PublicKey::from_signal_bytes(&hex::decode(v.as_str().unwrap()).unwrap()).unwrap()
}

fn bundle_to_json(b: &PreKeyBundle) -> Value {
    let (pre_id, pre_key) = b.pre_key.unwrap();
    json!({
        "registrationId": b.registration_id,
        "identityKey": hex::encode(b.identity_key.serialize()),
        "signedPreKey": {
            "keyId": b.signed_pre_key_id,
            "publicKey": hex::encode(b.signed_pre_key.serialize()),
            "signature": hex::encode(b.signed_pre_key_signature),
        },
        "preKey": {"keyId": pre_id, "publicKey": hex::encode(pre_key.serialize())},
    })
}

fn bundle_from_json(v: &Value) -> PreKeyBundle {
    PreKeyBundle {
        registration_id: v["registrationId"].as_u64().unwrap() as u32,
        identity_key: key_from_hex(&v["identityKey"]),
        signed_pre_key_id: v["signedPreKey"]["keyId"].as_u64().unwrap() as u32,
        signed_pre_key: key_from_hex(&v["signedPreKey"]["publicKey"]),
        signed_pre_key_signature: hex::decode(v["signedPreKey"]["signature"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
        pre_key: Some((
            v["preKey"]["keyId"].as_u64().unwrap() as u32,
            key_from_hex(&v["preKey"]["publicKey"]),
        )),
    }
}

#[test]
fn node_initiates_and_rust_answers() {
    let Some(mut node) = Node::start() else {
        return;
    };
    let mut rust = Party::new(31);
    let bundle = rust.bundle();
    // libsignal-node verifies our XEdDSA signed-prekey signature.
    let verify = node.call(json!({
        "op": "verify",
        "publicKey": hex::encode(bundle.identity_key.serialize()),
        "message": hex::encode(bundle.signed_pre_key.serialize()),
        "signature": hex::encode(bundle.signed_pre_key_signature),
    }));
    assert_eq!(verify["valid"], json!(true));
    node.call(json!({"op": "process_bundle", "addr": "r1", "bundle": bundle_to_json(&bundle)}));

    // Node keeps sending pkmsg until we reply; deliver them out of order.
    let first: Vec<_> = (0..3)
        .map(|i| node.encrypt("r1", format!("from node {i}").as_bytes()))
        .collect();
    assert!(first.iter().all(|m| m.enc_type() == "pkmsg"));
    for i in [1, 0, 2] {
        assert_eq!(rust.receive(&first[i]).unwrap(), format!("from node {i}"));
    }
    assert!(rust.pre_keys.iter().all(|k| k.id != 1), "prekey consumed");

    for round in 0..6 {
        let mut rng = common::rng(round);
        let text = format!("rust round {round}");
        let padded = pad_message(text.as_bytes(), &mut rng);
        let reply = rust.send_bytes(&padded);
        assert_eq!(reply.enc_type(), "msg");
        assert_eq!(
            unpad_message(&node.decrypt("r1", &reply)).unwrap(),
            text.as_bytes()
        );

        let burst: Vec<_> = (0..round % 3 + 1)
            .map(|i| node.encrypt("r1", format!("node {round}/{i}").as_bytes()))
            .collect();
        for (i, m) in burst.iter().enumerate().rev() {
            assert_eq!(m.enc_type(), "msg");
            assert_eq!(rust.receive(m).unwrap(), format!("node {round}/{i}"));
        }
    }
}

#[test]
fn rust_initiates_and_node_answers() {
    let Some(mut node) = Node::start() else {
        return;
    };
    let mut rust = Party::new(41);
    let reply = node.call(json!({"op": "bundle"}));
    let bundle = bundle_from_json(&reply["bundle"]);
    // process_prekey_bundle checks Node's XEdDSA signature.
    assert!(!rust.start_session(&bundle));

    for i in 0..3 {
        let m = rust.send(&format!("from rust {i}"));
        assert_eq!(m.enc_type(), "pkmsg");
        assert_eq!(node.decrypt("r2", &m), format!("from rust {i}").as_bytes());
    }
    for round in 0..6 {
        let burst: Vec<_> = (0..round % 3 + 1)
            .map(|i| node.encrypt("r2", format!("node {round}/{i}").as_bytes()))
            .collect();
        for i in (0..burst.len()).rev() {
            assert_eq!(burst[i].enc_type(), "msg");
            assert_eq!(
                rust.receive(&burst[i]).unwrap(),
                format!("node {round}/{i}")
            );
        }
        for i in 0..round % 2 + 1 {
            let m = rust.send(&format!("rust {round}/{i}"));
            assert_eq!(m.enc_type(), "msg", "session acknowledged by the reply");
            assert_eq!(
                node.decrypt("r2", &m),
                format!("rust {round}/{i}").as_bytes()
            );
        }
    }

    // A restart of our side mid-conversation keeps the session working with Node.
    rust.record = wa_signal::SessionRecord::deserialize(&rust.record.serialize()).unwrap();
    let m = rust.send("after restart");
    assert_eq!(node.decrypt("r2", &m), b"after restart");
    let back = node.encrypt("r2", b"welcome back");
    assert_eq!(rust.receive(&back).unwrap(), "welcome back");
}

#[test]
fn group_sender_keys_interoperate_with_baileys() {
    let Some(mut node) = Node::start() else {
        return;
    };
    let mut rng = common::rng(51);

    // Node (Baileys' GroupCipher) sends to the group; we decrypt. Baileys skips an iteration
    // after its first message, so this also exercises stored skipped keys.
    let skdm = node.call(json!({"op": "group_create", "group": "g@g.us", "sender": "node"}));
    let mut from_node = SenderKeyRecord::new();
    process_sender_key_distribution(&mut from_node, &hex_field(&skdm, "skdm")).unwrap();
    let sent: Vec<Vec<u8>> = (0..5)
        .map(|i| {
            let r = node.call(json!({
                "op": "group_encrypt", "group": "g@g.us", "sender": "node",
                "plaintext": hex::encode(format!("node group {i}")),
            }));
            hex_field(&r, "body")
        })
        .collect();
    for i in [0, 2, 1, 4, 3] {
        assert_eq!(
            group_decrypt(&mut from_node, &sent[i]).unwrap(),
            format!("node group {i}").as_bytes()
        );
    }

    // We send to the group; Baileys decrypts, including across a gap (message 1 is lost).
    // Not out of order: Baileys keeps skipped group keys as raw Buffers, and after its own
    // store round trip (`JSON.stringify` without `BufferJSON.replacer`) they come back as
    // `{type, data}` objects that libsignal's `deriveSecrets` refuses ("Expected Buffer").
    let mut ours = SenderKeyRecord::new();
    let skdm = create_sender_key_distribution(&mut ours, &mut rng).unwrap();
    node.call(json!({
        "op": "group_process", "group": "g@g.us", "sender": "rust", "skdm": hex::encode(&skdm)
    }));
    let sent: Vec<Vec<u8>> = (0..5)
        .map(|i| group_encrypt(&mut ours, format!("rust group {i}").as_bytes(), &mut rng).unwrap())
        .collect();
    for i in [0, 2, 3, 4] {
        let r = node.call(json!({
            "op": "group_decrypt", "group": "g@g.us", "sender": "rust", "body": hex::encode(&sent[i])
        }));
        assert_eq!(
            hex_field(&r, "plaintext"),
            format!("rust group {i}").as_bytes()
        );
    }
}

fn hex_field(reply: &Value, field: &str) -> Vec<u8> {
    hex::decode(reply[field].as_str().unwrap()).unwrap()
}

#[test]
fn reinstalled_node_peer_is_flagged_as_identity_change() {
    let Some(mut first) = Node::start() else {
        return;
    };
    let mut rust = Party::new(71);
    first.call(
        json!({"op": "process_bundle", "addr": "r3", "bundle": bundle_to_json(&rust.bundle())}),
    );
    let m = first.encrypt("r3", b"before reinstall");
    assert_eq!(rust.receive(&m).unwrap(), "before reinstall");
    assert_eq!(first.decrypt("r3", &rust.send("ok")), b"ok");

    // Same address, new process: a new identity key (the peer reinstalled WhatsApp).
    let Some(mut second) = Node::start() else {
        return;
    };
    second.call(
        json!({"op": "process_bundle", "addr": "r3", "bundle": bundle_to_json(&rust.bundle())}),
    );
    let CiphertextMessage::PreKey(bytes) = second.encrypt("r3", b"after reinstall") else {
        panic!("expected pkmsg")
    };
    let out = rust.receive_prekey(&bytes).unwrap();
    assert!(out.identity_changed, "new identity reported");
    assert_eq!(out.plaintext, b"after reinstall");
    assert_eq!(
        second.decrypt("r3", &rust.send("hello again")),
        b"hello again"
    );
}
