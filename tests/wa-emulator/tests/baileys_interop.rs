//! Interop with UNMODIFIED Baileys (`tests/interop/baileys`, pinned in its package.json): pair by
//! QR through the admin API, log in again from the saved auth state without a new QR, survive a
//! dropped connection, and get logged out when the device is removed.
//!
//! Needs `npm ci` in `tests/interop/baileys`. Without `node_modules` the test fails when `CI` is
//! set and otherwise prints a notice and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::{Instant, timeout_at};
use wa_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

const PHONE: &str = "972500000001";
/// Generous per-step deadline: Baileys itself finishes each step in a second or two.
const STEP: Duration = Duration::from_secs(60);

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/baileys")
}

/// One running `node harness.mjs` process and the lines it printed.
struct Baileys {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Baileys {
    fn spawn(ws_url: &str, auth_dir: &Path) -> Self {
        let mut child = Command::new("node")
            .arg("harness.mjs")
            .arg(ws_url)
            .arg(auth_dir)
            .current_dir(harness_dir())
            .env(
                "BAILEYS_LOG_LEVEL",
                std::env::var("BAILEYS_LOG_LEVEL").unwrap_or_else(|_| "fatal".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning node");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        Self {
            child,
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// Reads lines until one starts with `prefix`; returns the rest of it. Fails at the deadline
    /// or when the process ends, showing what it printed.
    async fn expect(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let line = match timeout_at(deadline, self.lines.next_line()).await {
                Err(_) => panic!("no `{prefix}` line within {STEP:?}; saw {:?}", self.seen),
                Ok(Err(e)) => panic!("reading harness output: {e}"),
                Ok(Ok(None)) => panic!("harness exited before `{prefix}`; saw {:?}", self.seen),
                Ok(Ok(Some(line))) => line,
            };
            self.seen.push(line.clone());
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    /// Sends one command line to the harness (e.g. `send <jid> <text>`).
    async fn command(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("harness stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// Waits for a received text message; returns it as JSON.
    async fn message(&mut self) -> Value {
        serde_json::from_str(&self.expect("message ").await).unwrap()
    }

    /// Graceful stop: closing stdin makes the harness finish writing its auth state and exit.
    async fn stop(mut self) {
        drop(self.stdin.take());
        self.expect("stopped").await;
        let deadline = Instant::now() + STEP;
        if timeout_at(deadline, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
            panic!("harness did not exit after `stopped`");
        }
    }

    /// For a harness that already exited on its own (e.g. after a logout).
    async fn reap(mut self) {
        let deadline = Instant::now() + STEP;
        let status = timeout_at(deadline, self.child.wait())
            .await
            .expect("harness still running")
            .unwrap();
        assert_eq!(status.code(), Some(3), "exit code after logout");
    }
}

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

fn node_modules_present() -> bool {
    harness_dir()
        .join("node_modules/@whiskeysockets/baileys")
        .is_dir()
}

/// False (after a notice) when the npm peer is not installed; panics instead under `CI`.
fn ready() -> bool {
    if !node_modules_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tests/interop/baileys/node_modules missing: run `npm ci` there (CI must)"
        );
        eprintln!("NOTICE: skipping Baileys interop: run `npm ci` in tests/interop/baileys");
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
async fn paired(emu: &EmulatorHandle, phone: &str, dir: &Path) -> (Baileys, String) {
    let mut baileys = Baileys::spawn(&emu.ws_url(), dir);
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
    let mut b = Baileys::spawn(&emu.ws_url(), dir_b.path());
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
    a.reap().await;
    b.reap().await;
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
    let mut baileys = Baileys::spawn(&emu.ws_url(), auth.path());
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
    let mut baileys = Baileys::spawn(&emu.ws_url(), auth.path());
    assert_eq!(baileys.expect("open ").await, jid);
    assert!(
        !baileys.seen.iter().any(|l| l.starts_with("qr-data")),
        "login must not show a QR: {:?}",
        baileys.seen
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
    baileys.reap().await;
    emu.shutdown().await;
}
