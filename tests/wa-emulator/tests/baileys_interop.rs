//! Interop with UNMODIFIED Baileys (`tests/interop/baileys`, pinned in its package.json): pair by
//! QR through the admin API, log in again from the saved auth state without a new QR, survive a
//! dropped connection, and get logged out when the device is removed; pair by phone number
//! (`requestPairingCode`) with the code typed at the emulated phone.
//!
//! Needs `npm ci` in `tests/interop/baileys`. Without `node_modules` the test fails when `CI` is
//! set and otherwise prints a notice and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::{Value, json};
use wa_emulator::baileys_harness::{self, BaileysHarness};
use wa_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

const PHONE: &str = "972500000001";
async fn post(client: &reqwest::Client, emu: &EmulatorHandle, path: &str, body: Value) -> Value {
    let res = client
        .post(format!("{}{path}", emu.admin_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let value: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{path} -> {status}: {value}");
    value
}

/// False (after a notice) when the npm peer is not installed; panics instead under `CI`.
fn ready() -> bool {
    if !baileys_harness::ready() {
        return false;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "wa_emulator=info".into()),
        )
        .with_test_writer()
        .try_init();
    true
}

/// Starts Baileys with fresh auth in `dir`, scans its QR for `phone`, waits until it is open.
async fn paired(emu: &EmulatorHandle, phone: &str, dir: &Path) -> (BaileysHarness, String) {
    let mut baileys = BaileysHarness::spawn(&emu.ws_url(), dir);
    let qr = baileys.expect("qr-data: ").await;
    let device = emu.scan(&qr, phone).await.unwrap();
    assert_eq!(baileys.expect("open ").await, device.jid);
    (baileys, device.jid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_baileys_devices_exchange_texts_online_and_offline() {
    if !ready() {
        return;
    }
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, _) = paired(&emu, "972500000011", dir_a.path()).await;
    let (mut b, _) = paired(&emu, "972500000012", dir_b.path()).await;
    let lid_of = |phone: &str| {
        let d = emu
            .devices()
            .into_iter()
            .find(|d| d.jid.starts_with(phone))
            .unwrap();
        d.lid.split(':').next().unwrap().to_owned()
    };
    let sender_is = |msg: &Value, phone: &str| {
        let addrs = [msg["from"].as_str(), msg["alt"].as_str()];
        let pn = format!("{phone}@s.whatsapp.net");
        let lid = format!("{}@lid", lid_of(phone));
        addrs.iter().flatten().any(|a| *a == pn || *a == lid)
    };

    // A → B, first contact: usync, bundle fetch, pkmsg relayed, decrypted by B.
    a.command("send 972500000012@s.whatsapp.net hello from A")
        .await;
    let id = a.expect("sent ").await;
    let got = b.message().await;
    assert_eq!(got["text"], "hello from A");
    assert_eq!(got["id"], id);
    assert!(sender_is(&got, "972500000011"), "{got}");

    // B → A on the session A's message set up.
    b.command("send 972500000011@s.whatsapp.net hi back").await;
    let got = a.message().await;
    assert_eq!(got["text"], "hi back");
    assert!(sender_is(&got, "972500000012"), "{got}");

    // B goes away; A's message waits in the server and arrives when B logs in again.
    b.stop().await;
    a.command("send 972500000012@s.whatsapp.net while you were away")
        .await;
    a.expect("sent ").await;
    let mut b = BaileysHarness::spawn(&emu.ws_url(), dir_b.path());
    let got = b.message().await;
    assert_eq!(got["text"], "while you were away");

    // Logins refused, then every connection dropped: both reconnect, get
    // `<failure reason="401"/>` and treat it as a logout.
    let client = reqwest::Client::new();
    let on = json!({ "kind": "refuse_logins", "on": true });
    post(&client, &emu, "/admin/fault", on).await;
    post(&client, &emu, "/admin/fault", json!({ "kind": "drop" })).await;
    for peer in [&mut a, &mut b] {
        peer.expect("reconnecting").await;
        assert_eq!(peer.expect("close ").await, "401");
        peer.expect("logged-out").await;
    }
    for status in [a.reap().await, b.reap().await] {
        assert_eq!(status.code(), Some(3), "exit code after logout");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmodified_baileys_pairs_logs_in_reconnects_and_is_logged_out() {
    if !ready() {
        return;
    }
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let client = reqwest::Client::new();
    let auth = tempfile::tempdir().unwrap();

    // 1. Fresh auth: Baileys shows a QR; the "phone" scans it; Baileys is told to restart (515),
    //    reconnects with the login payload and opens.
    let mut baileys = BaileysHarness::spawn(&emu.ws_url(), auth.path());
    let qr = baileys.expect("qr-data: ").await;
    let device = post(
        &client,
        &emu,
        "/admin/scan",
        json!({ "qr": qr, "phone": PHONE }),
    )
    .await;
    let jid = device["jid"].as_str().unwrap().to_owned();
    assert_eq!(jid, format!("{PHONE}:1@s.whatsapp.net"));
    assert_eq!(baileys.expect("close ").await, "515");
    assert_eq!(baileys.expect("open ").await, jid);

    // The login uploaded Baileys' initial 812 prekeys, and the emulator kept them.
    let devices = emu.devices();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].jid, jid);
    assert_eq!(devices[0].prekeys, 812);
    baileys.stop().await;

    // 2. A new process with the saved auth state logs in without any QR.
    let mut baileys = BaileysHarness::spawn(&emu.ws_url(), auth.path());
    assert_eq!(baileys.expect("open ").await, jid);
    assert!(
        !baileys.seen().iter().any(|l| l.starts_with("qr-data")),
        "login must not show a QR: {:?}",
        baileys.seen()
    );

    // 3. The server drops every connection: Baileys reconnects and opens again.
    post(&client, &emu, "/admin/fault", json!({ "kind": "drop" })).await;
    baileys.expect("reconnecting").await;
    assert_eq!(baileys.expect("open ").await, jid);

    // 4. The phone removes the device: Baileys is logged out (401) and stops.
    post(&client, &emu, "/admin/remove-device", json!({ "jid": jid })).await;
    assert_eq!(baileys.expect("close ").await, "401");
    baileys.expect("logged-out").await;
    assert!(emu.devices().is_empty());
    let status = baileys.reap().await;
    assert_eq!(status.code(), Some(3), "exit code after logout");
    emu.shutdown().await;
}

/// Baileys' own `requestPairingCode`: the code it returns, typed into the emulated phone,
/// opens Baileys' key bundle, and the ADV secret both sides derived keys pair-success's HMAC
/// (Baileys checks it), so Baileys pairs, restarts (515) and opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmodified_baileys_pairs_by_phone_number_code() {
    if !ready() {
        return;
    }
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let auth = tempfile::tempdir().unwrap();
    let phone = "972500000021";
    let mut baileys = BaileysHarness::spawn_pairing_by_code(&emu.ws_url(), auth.path(), phone);
    let code = baileys.expect("pairing-code: ").await;
    assert_eq!(code.len(), 8, "{code}");
    assert!(
        !baileys.seen().iter().any(|l| l.starts_with("qr-data")),
        "{:?}",
        baileys.seen()
    );
    let device = emu.enter_code(phone, &code).await.unwrap();
    assert_eq!(device.jid, format!("{phone}:1@s.whatsapp.net"));
    assert_eq!(baileys.expect("close ").await, "515");
    assert_eq!(baileys.expect("open ").await, device.jid);
    baileys.stop().await;

    // The saved auth state logs in again without any code or QR.
    let mut baileys = BaileysHarness::spawn(&emu.ws_url(), auth.path());
    assert_eq!(baileys.expect("open ").await, device.jid);
    baileys.stop().await;
    emu.shutdown().await;
}
