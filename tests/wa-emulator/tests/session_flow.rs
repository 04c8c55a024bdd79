//! The sans-IO server session driven by a simulated companion: registration, scan, pair-success
//! checked like a client checks it, the companion's signature checked for real, login with the
//! right and the wrong Noise key, and the post-login IQs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message as _;
use rand::rngs::OsRng;
use wa_binary::Node;
use wa_crypto::KeyPair;
use wa_emulator::qr::QrData;
use wa_emulator::registry::{Registration, Registry, SignedPreKey};
use wa_emulator::session::{ClientIntent, Ctx, Output, PairError, ScanError, Session};
use wa_emulator::stanzas::attr;
use wa_protos::wa::{AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};

const PHONE: &str = "972500000002";
const NOW: u64 = 1_800_000_000;

struct Companion {
    noise: KeyPair,
    identity: KeyPair,
    adv: [u8; 32],
}

impl Companion {
    fn new() -> Self {
        Self {
            noise: KeyPair::generate(&mut OsRng),
            identity: KeyPair::generate(&mut OsRng),
            adv: [0x5a; 32],
        }
    }

    fn registration(&self) -> Registration {
        let spk = KeyPair::generate(&mut OsRng);
        Registration {
            noise_public: self.noise.public,
            registration_id: 4242,
            identity_public: self.identity.public,
            signed_prekey: SignedPreKey {
                id: 1,
                public: spk.public,
                signature: self
                    .identity
                    .sign(&spk.public_with_prefix(), &mut OsRng)
                    .to_vec(),
            },
            push_name: Some("Shop".into()),
        }
    }

    fn qr(&self, reference: &str) -> QrData {
        QrData {
            reference: reference.to_owned(),
            noise_public: self.noise.public,
            identity_public: self.identity.public,
            adv_secret: self.adv,
            client_type: Some("1".into()),
        }
    }

    /// Checks pair-success as a client does and builds the `pair-device-sign` answer, signed
    /// by `signer` (the real identity, or an impostor).
    fn answer(&self, pair_success: &Node, signer: &KeyPair) -> Node {
        let ps = pair_success.child("pair-success").unwrap();
        let container = AdvSignedDeviceIdentityHmac::decode(
            ps.child("device-identity")
                .unwrap()
                .content_bytes()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            container.hmac(),
            wa_crypto::hmac_sha256(&self.adv, container.details())
        );
        let mut signed = AdvSignedDeviceIdentity::decode(container.details()).unwrap();
        let account: [u8; 32] = signed.account_signature_key().try_into().unwrap();
        let msg = [&[6u8, 0][..], signed.details(), &self.identity.public].concat();
        let sig: [u8; 64] = signed.account_signature().try_into().unwrap();
        assert!(wa_crypto::xeddsa_verify(&account, &msg, &sig));
        let dev_msg = [
            &[6u8, 1][..],
            signed.details(),
            &self.identity.public,
            &account,
        ]
        .concat();
        signed.device_signature = Some(signer.sign(&dev_msg, &mut OsRng).to_vec());
        signed.account_signature_key = None;
        Node::new("iq")
            .attr("type", "result")
            .attr("id", attr(pair_success, "id"))
            .children(vec![Node::new("pair-device-sign").children(vec![
                Node::new("device-identity")
                    .attr("key-index", "1")
                    .bytes(signed.encode_to_vec()),
            ])])
    }
}

fn sent(out: &[Output]) -> Vec<&Node> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn ctx(registry: &mut Registry) -> Ctx<'_, OsRng> {
    Ctx {
        registry,
        now: NOW,
        refuse_logins: false,
        refuse_logouts: false,
        pair_refs: wa_emulator::session::PAIR_REFS,
        rng: OsRng,
    }
}

/// Registers, scans and answers; returns the registry with the paired device.
fn pair(companion: &Companion, registry: &mut Registry) -> String {
    let (mut session, out) = Session::open(
        ClientIntent::Register(companion.registration()),
        &companion.noise.public,
        &mut ctx(registry),
    );
    let pair_device = sent(&out)[0].clone();
    let refs: Vec<String> = pair_device
        .child("pair-device")
        .unwrap()
        .children_with_tag("ref")
        .map(|r| String::from_utf8(r.content_bytes().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(refs.len(), 6);

    // A QR with a ref this connection never issued is refused.
    assert_eq!(
        session
            .scan(&companion.qr("2@forged"), PHONE, &mut ctx(registry))
            .unwrap_err(),
        ScanError::UnknownRef
    );
    let out = session
        .scan(&companion.qr(&refs[2]), PHONE, &mut ctx(registry))
        .unwrap();
    let success = sent(&out)[0].clone();
    let device = success
        .child("pair-success")
        .unwrap()
        .child("device")
        .unwrap();
    let jid = attr(device, "jid");
    assert_eq!(jid, format!("{PHONE}:1@s.whatsapp.net"));
    assert!(attr(device, "lid").ends_with(":1@lid"));

    let out = session.on_node(
        &companion.answer(&success, &companion.identity),
        &mut ctx(registry),
    );
    assert!(matches!(&out[0], Output::Paired(Ok(view)) if view.jid == jid));
    let restart = sent(&out)[0];
    assert_eq!(restart.tag, "stream:error");
    assert_eq!(attr(restart, "code"), "515");
    assert!(matches!(out.last(), Some(Output::Close(_))));
    jid
}

fn iq(id: &str, xmlns: &str, kind: &str, children: Vec<Node>) -> Node {
    let n = Node::new("iq")
        .attr("id", id)
        .attr("xmlns", xmlns)
        .attr("type", kind)
        .attr("to", "s.whatsapp.net");
    if children.is_empty() {
        n
    } else {
        n.children(children)
    }
}

#[test]
fn pairing_then_login_and_the_post_login_iqs() {
    let companion = Companion::new();
    let mut registry = Registry::new();
    let jid = pair(&companion, &mut registry);
    assert_eq!(
        registry.device(&jid).unwrap().registration.registration_id,
        4242
    );

    // Login with another Noise key: refused with 401.
    let impostor = KeyPair::generate(&mut OsRng);
    let login = ClientIntent::Login {
        username: PHONE.parse().unwrap(),
        device: 1,
    };
    let (_, out) = Session::open(login.clone(), &impostor.public, &mut ctx(&mut registry));
    assert_eq!(sent(&out)[0].tag, "failure");
    assert_eq!(attr(sent(&out)[0], "reason"), "401");

    // The fault switch refuses even the right key.
    let mut refusing = ctx(&mut registry);
    refusing.refuse_logins = true;
    let (_, out) = Session::open(login.clone(), &companion.noise.public, &mut refusing);
    assert_eq!(attr(sent(&out)[0], "reason"), "401");

    // The registered key: <success> with the LID.
    let (mut s, out) = Session::open(login, &companion.noise.public, &mut ctx(&mut registry));
    let success = sent(&out)[0];
    assert_eq!(success.tag, "success");
    assert_eq!(attr(success, "t"), NOW.to_string());
    assert!(attr(success, "lid").ends_with(":1@lid"));
    let lid_user = attr(success, "lid").split(':').next().unwrap().to_owned();

    let mut ask = |node: Node| s.on_node(&node, &mut ctx(&mut registry));
    let count = |out: &[Output]| attr(sent(out)[0].child("count").unwrap(), "value");

    assert_eq!(
        count(&ask(iq("1", "encrypt", "get", vec![Node::new("count")]))),
        "0"
    );
    let keys: Vec<Node> = (1u32..=3)
        .map(|id| {
            Node::new("key").children(vec![
                Node::new("id").bytes(id.to_be_bytes()[1..].to_vec()),
                Node::new("value").bytes(vec![id as u8; 32]),
            ])
        })
        .collect();
    let upload = iq(
        "2",
        "encrypt",
        "set",
        vec![
            Node::new("registration").bytes(4242u32.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(companion.identity.public.to_vec()),
            Node::new("list").children(keys),
        ],
    );
    let out = ask(upload);
    assert_eq!(attr(sent(&out)[0], "type"), "result");
    assert_eq!(
        count(&ask(iq("3", "encrypt", "get", vec![Node::new("count")]))),
        "3"
    );

    // Going active ends the (empty) offline queue.
    let out = ask(iq("4", "passive", "set", vec![Node::new("active")]));
    let nodes = sent(&out);
    assert_eq!(attr(nodes[0], "type"), "result");
    assert_eq!(nodes[1].tag, "ib");
    assert_eq!(attr(nodes[1].child("offline").unwrap(), "count"), "0");

    let out = ask(iq("5", "encrypt", "get", vec![Node::new("digest")]));
    assert!(sent(&out)[0].child("digest").is_some());
    let out = ask(iq("6", "w:p", "get", vec![Node::new("ping")]));
    assert_eq!(attr(sent(&out)[0], "type"), "result");

    // A bundle fetch by LID hands out one prekey and removes it from the pool.
    let out = ask(iq(
        "7",
        "encrypt",
        "get",
        vec![Node::new("key").children(vec![
            Node::new("user").attr("jid", format!("{lid_user}:1@lid")),
        ])],
    ));
    let user = sent(&out)[0]
        .child("list")
        .unwrap()
        .child("user")
        .unwrap()
        .clone();
    assert_eq!(
        user.child("identity").unwrap().content_bytes().unwrap(),
        companion.identity.public
    );
    assert!(user.child("key").is_some());
    // Two keys left (< 5): the device is told to upload more.
    let low = out
        .iter()
        .find_map(|o| match o {
            Output::Route { to, node } => Some((to.clone(), node.clone())),
            _ => None,
        })
        .expect("low-prekey notification");
    assert_eq!(low.0, jid);
    assert_eq!(
        (low.1.tag.as_str(), attr(&low.1, "type").as_str()),
        ("notification", "encrypt")
    );
    assert_eq!(attr(low.1.child("count").unwrap(), "value"), "2");
    assert_eq!(
        count(&ask(iq("8", "encrypt", "get", vec![Node::new("count")]))),
        "2"
    );

    // Anything unknown gets an error answer, not silence.
    let out = ask(iq("9", "bogus", "get", vec![Node::new("what")]));
    let error = sent(&out)[0];
    assert_eq!(attr(error, "type"), "error");
    assert_eq!(attr(error, "id"), "9");
    assert_eq!(attr(error.child("error").unwrap(), "code"), "501");
}

#[test]
fn a_device_signature_by_another_key_is_refused_and_nothing_is_registered() {
    let companion = Companion::new();
    let mut registry = Registry::new();
    let (mut session, out) = Session::open(
        ClientIntent::Register(companion.registration()),
        &companion.noise.public,
        &mut ctx(&mut registry),
    );
    let reference = String::from_utf8(
        sent(&out)[0]
            .child("pair-device")
            .unwrap()
            .child("ref")
            .unwrap()
            .content_bytes()
            .unwrap()
            .to_vec(),
    )
    .unwrap();

    // A QR whose keys are not this connection's registration is refused.
    let mut other = companion.qr(&reference);
    other.identity_public = [1; 32];
    assert_eq!(
        session
            .scan(&other, PHONE, &mut ctx(&mut registry))
            .unwrap_err(),
        ScanError::KeyMismatch
    );

    let out = session
        .scan(&companion.qr(&reference), PHONE, &mut ctx(&mut registry))
        .unwrap();
    let success = sent(&out)[0].clone();
    let impostor = KeyPair::generate(&mut OsRng);
    let out = session.on_node(
        &companion.answer(&success, &impostor),
        &mut ctx(&mut registry),
    );
    assert!(matches!(&out[0], Output::Paired(Err(PairError::Adv(_)))));
    assert!(sent(&out).is_empty(), "no 515 after a failed pairing");
    assert_eq!(registry.devices().count(), 0);
}

#[test]
fn a_companion_logout_removes_the_device_and_its_next_login_is_refused() {
    let companion = Companion::new();
    let mut registry = Registry::new();
    let jid = pair(&companion, &mut registry);
    let login = ClientIntent::Login {
        username: PHONE.parse().unwrap(),
        device: 1,
    };
    let (mut s, _) = Session::open(
        login.clone(),
        &companion.noise.public,
        &mut ctx(&mut registry),
    );
    let remove = |target: &str| {
        iq(
            "rm",
            "md",
            "set",
            vec![
                Node::new("remove-companion-device")
                    .attr("jid", target)
                    .attr("reason", "user_initiated"),
            ],
        )
    };

    // Refused by the fault switch, and for another device: the device stays.
    let mut refusing = ctx(&mut registry);
    refusing.refuse_logouts = true;
    let out = s.on_node(&remove(&jid), &mut refusing);
    assert_eq!(attr(sent(&out)[0], "type"), "error");
    assert_eq!(attr(sent(&out)[0].child("error").unwrap(), "code"), "500");
    let other = format!("{PHONE}:7@s.whatsapp.net");
    let out = s.on_node(&remove(&other), &mut ctx(&mut registry));
    assert_eq!(attr(sent(&out)[0].child("error").unwrap(), "code"), "403");
    assert!(registry.device(&jid).is_some());

    // Its own: result, device_removed, close; forgotten.
    let out = s.on_node(&remove(&jid), &mut ctx(&mut registry));
    let nodes = sent(&out);
    assert_eq!(attr(nodes[0], "type"), "result");
    assert_eq!(attr(nodes[0], "id"), "rm");
    assert_eq!(nodes[1].tag, "stream:error");
    assert_eq!(
        attr(nodes[1].child("conflict").unwrap(), "type"),
        "device_removed"
    );
    assert!(matches!(out.last(), Some(Output::Close(_))));
    assert!(registry.device(&jid).is_none());

    // The same keys cannot log in again.
    let (_, out) = Session::open(login, &companion.noise.public, &mut ctx(&mut registry));
    assert_eq!(sent(&out)[0].tag, "failure");
    assert_eq!(attr(sent(&out)[0], "reason"), "401");
}

/// `companion_hello` is checked against the registration, and the phone only accepts a code
/// for a phone that asked for one.
#[test]
fn pairing_code_requests_are_checked() {
    let companion = Companion::new();
    let mut registry = Registry::new();
    let (mut session, _) = Session::open(
        ClientIntent::Register(companion.registration()),
        &companion.noise.public,
        &mut ctx(&mut registry),
    );
    let hello = |noise: &[u8], nonce: Vec<u8>, display: &str| {
        iq(
            "h",
            "md",
            "set",
            vec![
                Node::new("link_code_companion_reg")
                    .attr("jid", format!("{PHONE}@s.whatsapp.net"))
                    .attr("stage", "companion_hello")
                    .children(vec![
                        Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                            .bytes(vec![1; 80]),
                        Node::new("companion_server_auth_key_pub").bytes(noise.to_vec()),
                        Node::new("companion_platform_id").bytes(b"1".to_vec()),
                        Node::new("companion_platform_display").bytes(display.as_bytes().to_vec()),
                        Node::new("link_code_pairing_nonce").bytes(nonce),
                    ]),
            ],
        )
    };
    assert_eq!(
        session
            .enter_code(PHONE, "ABCD-EFGH", &mut ctx(&mut registry))
            .unwrap_err(),
        ScanError::NoCodeRequested
    );
    let noise = companion.noise.public;
    for bad in [
        hello(&[9; 32], vec![0], "Chrome (Linux)"),
        hello(&noise, vec![7], "Chrome (Linux)"),
        hello(&noise, vec![0], "wa-sidecar"),
    ] {
        let out = session.on_node(&bad, &mut ctx(&mut registry));
        assert_eq!(attr(sent(&out)[0], "type"), "error");
        assert_eq!(attr(sent(&out)[0].child("error").unwrap(), "code"), "400");
    }
    // Baileys' string nonce "0" is accepted like the byte 0.
    let out = session.on_node(
        &hello(&noise, b"0".to_vec(), "Chrome (Mac OS)"),
        &mut ctx(&mut registry),
    );
    assert!(matches!(&out[0], Output::LinkCodeRequested { phone } if phone == PHONE));
    let answer = sent(&out)[0];
    assert_eq!(attr(answer, "type"), "result");
    let reference = answer
        .child("link_code_companion_reg")
        .and_then(|r| r.child("link_code_pairing_ref"))
        .and_then(Node::content_bytes)
        .unwrap()
        .to_vec();
    assert_eq!(
        session
            .enter_code(PHONE, "ABCD-EFG0", &mut ctx(&mut registry))
            .unwrap_err(),
        ScanError::BadCode
    );
    assert_eq!(
        session
            .enter_code("972500000099", "ABCD-EFGH", &mut ctx(&mut registry))
            .unwrap_err(),
        ScanError::NoCodeRequested
    );
    let out = session
        .enter_code(PHONE, "abcd-efgh", &mut ctx(&mut registry))
        .unwrap();
    let notification = sent(&out)[0];
    assert_eq!(attr(notification, "type"), "link_code_companion_reg");
    let reg = notification.child("link_code_companion_reg").unwrap();
    assert_eq!(attr(reg, "stage"), "primary_hello");
    assert_eq!(
        reg.child("link_code_pairing_ref")
            .and_then(Node::content_bytes)
            .unwrap(),
        reference
    );
    assert_eq!(
        reg.child("primary_identity_pub")
            .and_then(Node::content_bytes)
            .unwrap(),
        registry.account_key(PHONE).unwrap().public
    );
    assert_eq!(
        session
            .enter_code(PHONE, "ABCD-EFGH", &mut ctx(&mut registry))
            .unwrap_err(),
        ScanError::InProgress
    );
}
