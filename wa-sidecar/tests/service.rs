//! The driver and service against the in-process WhatsApp emulator: pairing, login without a
//! QR, reconnect after a dropped connection, logout by the server, certificate refusal, and the
//! `/health` answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use common::*;
use serde_json::json;
use tokio::sync::watch;
use wa_core::{CertPolicy, DeviceState};
use wa_sidecar::{Driver, DriverConfig, Goal, LinkState, RunEnd, Service, SessionEnd, Store};

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Every state the service publishes, in order (a QR would stay pending until scanned, so it
/// cannot slip between two observations).
fn record_states(mut rx: watch::Receiver<LinkState>) -> tokio::task::JoinHandle<Vec<LinkState>> {
    tokio::spawn(async move {
        let mut seen = vec![rx.borrow_and_update().clone()];
        while rx.changed().await.is_ok() {
            seen.push(rx.borrow_and_update().clone());
        }
        seen
    })
}

#[tokio::test]
async fn pairs_then_restarts_and_logs_in_without_a_qr() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let jid = pair(&emu, dir.path()).await;
    assert!(jid.starts_with(&format!("{PHONE}:")), "{jid}");
    assert_eq!(emu.devices().len(), 1);

    // the saved device is what `status` reads
    let device = Store::open(dir.path())
        .unwrap()
        .load_device()
        .unwrap()
        .unwrap();
    assert!(device.is_paired());
    assert_eq!(device.jid.as_deref(), Some(jid.as_str()));

    // a new process on the same state directory logs in directly
    let store = Store::open(dir.path()).unwrap();
    let service = Service::start(driver_config(&emu.ws_url(), &emu), store, local())
        .await
        .unwrap();
    let mut link = service.link();
    let states = record_states(service.link());
    wait_state(&mut link, DEADLINE, "connected", LinkState::is_connected).await;
    let (status, body) = health(service.http_addr()).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["connected"], true);
    assert_eq!(body["device"], jid.as_str());
    service.shutdown().await;
    let states = states.await.unwrap();
    assert!(
        !states
            .iter()
            .any(|s| matches!(s, LinkState::QrPending { .. })),
        "login showed a QR: {states:?}"
    );
    assert_eq!(emu.devices().len(), 1, "no second device was registered");
}

#[tokio::test]
async fn reconnects_by_itself_after_the_connection_drops() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    pair(&emu, dir.path()).await;
    let proxy = CountingProxy::start(&emu).await;
    let store = Store::open(dir.path()).unwrap();
    let service = Service::start(driver_config(&proxy.url, &emu), store, local())
        .await
        .unwrap();
    let mut link = service.link();
    wait_state(&mut link, DEADLINE, "connected", LinkState::is_connected).await;
    assert_eq!(proxy.connections(), 1);

    admin_post(&emu, "/admin/fault", json!({ "kind": "drop" })).await;
    wait_state(&mut link, DEADLINE, "the drop to be noticed", |s| {
        !s.is_connected()
    })
    .await;
    let (status, body) = health(service.http_addr()).await;
    assert_eq!(status, 503);
    assert_eq!(body["reason"], "connecting");
    wait_state(&mut link, DEADLINE, "reconnected", LinkState::is_connected).await;
    assert_eq!(proxy.connections(), 2, "exactly one reconnect");
    assert_eq!(service.connection_attempts(), 2);
    service.shutdown().await;
}

#[tokio::test]
async fn removed_device_is_logged_out_for_good() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let jid = pair(&emu, dir.path()).await;
    let proxy = CountingProxy::start(&emu).await;
    let store = Store::open(dir.path()).unwrap();
    let mut service = Service::start(driver_config(&proxy.url, &emu), store, local())
        .await
        .unwrap();
    let mut link = service.link();
    wait_state(&mut link, DEADLINE, "connected", LinkState::is_connected).await;

    admin_post(&emu, "/admin/remove-device", json!({ "jid": jid })).await;
    let end = tokio::time::timeout(DEADLINE, service.driver_finished())
        .await
        .expect("the connection loop must stop")
        .unwrap();
    assert!(matches!(end, RunEnd::LoggedOut(_)), "{end:?}");
    assert!(matches!(*link.borrow(), LinkState::LoggedOut { .. }));
    // HTTP still answers, with the reason
    let (status, body) = health(service.http_addr()).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "down");
    assert_eq!(body["connected"], false);
    assert_eq!(body["reason"], "logged_out");
    assert_eq!(proxy.connections(), 1, "no reconnect after logout");
    service.shutdown().await;

    // the reason is persisted: a restarted service does not even try to connect
    let store = Store::open(dir.path()).unwrap();
    assert!(store.logged_out_reason().unwrap().is_some());
    let mut service = Service::start(driver_config(&proxy.url, &emu), store, local())
        .await
        .unwrap();
    let end = service.driver_finished().await.unwrap();
    assert!(matches!(end, RunEnd::LoggedOut(_)), "{end:?}");
    let (status, body) = health(service.http_addr()).await;
    assert_eq!((status, body["reason"].as_str()), (503, Some("logged_out")));
    assert_eq!(proxy.connections(), 1);
    service.shutdown().await;
}

#[tokio::test]
async fn untrusted_certificate_root_is_refused_with_a_clear_error() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    for policy in [
        CertPolicy::whatsapp(),
        CertPolicy::danger_trust_root([0x42; 32]),
    ] {
        let store = Store::open(dir.path()).unwrap();
        let (_tx, stop) = watch::channel(false);
        let cfg = DriverConfig {
            ws_url: emu.ws_url(),
            cert_policy: policy,
        };
        let mut driver = Driver::new(cfg, store, stop);
        let device = DeviceState::generate(&mut rand::rngs::OsRng);
        let end = tokio::time::timeout(DEADLINE, driver.session(device, Goal::UntilConnected))
            .await
            .unwrap()
            .unwrap();
        match end {
            SessionEnd::Disconnected { reason } => {
                assert!(reason.contains("certificate"), "unclear reason: {reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // nothing was stored for an untrusted server
        assert!(driver.store().load_device().unwrap().is_none());
    }
}

#[tokio::test]
async fn health_is_503_connecting_while_the_server_is_unreachable() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let jid = pair(&emu, dir.path()).await;
    // a port nobody listens on
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/ws/chat", closed.local_addr().unwrap());
    drop(closed);
    let store = Store::open(dir.path()).unwrap();
    let service = Service::start(driver_config(&url, &emu), store, local())
        .await
        .unwrap();
    let mut link = service.link();
    wait_state(&mut link, DEADLINE, "a failed attempt", |s| {
        matches!(
            s,
            LinkState::Connecting {
                last_error: Some(_),
                ..
            }
        )
    })
    .await;
    let (status, body) = health(service.http_addr()).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "down");
    assert_eq!(body["connected"], false);
    assert_eq!(body["reason"], "connecting");
    assert_eq!(body["device"], jid.as_str());
    service.shutdown().await;
}

#[tokio::test]
async fn restart_request_reconnects_at_once_and_replaced_stops() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    pair(&emu, dir.path()).await;
    let proxy = CountingProxy::start(&emu).await;
    let store = Store::open(dir.path()).unwrap();
    let mut service = Service::start(driver_config(&proxy.url, &emu), store, local())
        .await
        .unwrap();
    let mut link = service.link();
    let states = record_states(service.link());
    wait_state(&mut link, DEADLINE, "connected", LinkState::is_connected).await;

    // 515: a new connection at once, no backoff (a backoff wait publishes its error)
    admin_post(
        &emu,
        "/admin/fault",
        json!({ "kind": "stream_error", "code": "515" }),
    )
    .await;
    wait_state(&mut link, DEADLINE, "the second connection", |s| {
        s.is_connected() && proxy.connections() == 2
    })
    .await;

    // conflict/replaced: stop, don't fight
    admin_post(
        &emu,
        "/admin/fault",
        json!({ "kind": "stream_error", "code": "replaced" }),
    )
    .await;
    let end = tokio::time::timeout(DEADLINE, service.driver_finished())
        .await
        .expect("the connection loop must stop")
        .unwrap();
    assert_eq!(end, RunEnd::Replaced);
    let (status, body) = health(service.http_addr()).await;
    assert_eq!((status, body["reason"].as_str()), (503, Some("replaced")));
    assert_eq!(proxy.connections(), 2, "no reconnect after replaced");
    service.shutdown().await;
    let states = states.await.unwrap();
    assert!(
        !states.iter().any(|s| matches!(
            s,
            LinkState::Connecting {
                last_error: Some(_),
                ..
            }
        )),
        "a backoff wait happened: {states:?}"
    );
}
