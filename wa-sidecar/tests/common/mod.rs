//! Shared helpers: an in-process emulator, a connection-counting TCP proxy in front of it,
//! pairing through the library API, and waiting on conditions with deadlines.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod recorder;
pub mod service;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use wa_core::{CertPolicy, DeviceState};
use wa_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use wa_sidecar::{Driver, DriverConfig, LinkState, PairEnd, Store};

/// Default deadline for a condition.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Phone number the emulated primary phone pairs with.
pub const PHONE: &str = "972501234567";

pub async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default()).await.unwrap()
}

/// A TCP proxy to the emulator that counts accepted connections (what the emulator sees).
pub struct CountingProxy {
    pub url: String,
    pub count: Arc<AtomicU64>,
}

impl CountingProxy {
    pub async fn start(emu: &EmulatorHandle) -> Self {
        let target = emu
            .ws_url()
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let counter = count.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        CountingProxy {
            url: format!("ws://{addr}/ws/chat"),
            count,
        }
    }

    pub fn connections(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

pub fn driver_config(url: &str, emu: &EmulatorHandle) -> DriverConfig {
    DriverConfig {
        ws_url: url.to_owned(),
        cert_policy: CertPolicy::danger_trust_root(emu.root_public_key()),
    }
}

/// Waits until `pred` holds for the current state, or panics after `deadline`.
pub async fn wait_state(
    rx: &mut watch::Receiver<LinkState>,
    deadline: Duration,
    what: &str,
    pred: impl Fn(&LinkState) -> bool,
) -> LinkState {
    let found = tokio::time::timeout(deadline, rx.wait_for(|s| pred(s)))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|state| state.clone());
    match found {
        Some(state) => state,
        None => panic!("timed out waiting for {what}; state is {:?}", *rx.borrow()),
    }
}

/// Asks the emulated phone to scan `qr`.
pub async fn scan(emu: &EmulatorHandle, qr: &str) {
    scan_as(emu, qr, PHONE).await;
}

/// Asks the emulated phone with number `phone` to scan `qr`.
pub async fn scan_as(emu: &EmulatorHandle, qr: &str, phone: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{}/admin/scan", emu.admin_url()))
        .json(&json!({ "qr": qr, "phone": phone }))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(status.is_success(), "scan failed: {status} {body}");
}

pub async fn admin_post(emu: &EmulatorHandle, path: &str, body: serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", emu.admin_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        resp.text().await.unwrap()
    );
}

/// Pairs a fresh device stored in `dir` through the library API; returns its JID.
pub async fn pair(emu: &EmulatorHandle, dir: &Path) -> String {
    pair_as(emu, dir, PHONE).await
}

/// Pairs a fresh device of the account `phone`, stored in `dir`; returns its JID.
pub async fn pair_as(emu: &EmulatorHandle, dir: &Path, phone: &str) -> String {
    let store = Store::open(dir).unwrap();
    let (_stop_tx, stop) = watch::channel(false);
    let mut driver = Driver::new(driver_config(&emu.ws_url(), emu), store, stop);
    let mut link = driver.subscribe();
    let device = DeviceState::generate(&mut rand::rngs::OsRng);
    let pairing = tokio::spawn(async move { driver.pair(device).await });
    let qr = match wait_state(&mut link, DEADLINE, "a QR code", |s| {
        matches!(s, LinkState::QrPending { .. })
    })
    .await
    {
        LinkState::QrPending { qr, .. } => qr,
        other => unreachable!("{other:?}"),
    };
    assert!(qr.contains(','), "QR data looks wrong: {qr}");
    scan_as(emu, &qr, phone).await;
    let end = tokio::time::timeout(DEADLINE, pairing)
        .await
        .expect("pairing did not finish")
        .unwrap()
        .unwrap();
    match end {
        PairEnd::Paired { jid } => jid,
        other => panic!("pairing ended with {other:?}"),
    }
}

pub async fn health(addr: std::net::SocketAddr) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}
