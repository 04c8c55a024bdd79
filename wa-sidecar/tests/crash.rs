//! The real `wa-sidecar run` process killed with SIGKILL after it wrote a received message to
//! its outbox (and sent its receipt, which the emulator holds back as if the bytes never left)
//! but before the gateway took the message. After a restart: the gateway gets the message
//! exactly once, the server's redelivery of the unacknowledged stanza is recognised and
//! acknowledged (no "Bad MAC", no second webhook), and the conversation goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod sidecar_bin;

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::recorder::{Recorder, SECRET};
use common::service::{send_text, start_service};
use common::*;
use serde_json::{Value, json};
use tokio::process::Child;
use wa_emulator::EmulatorHandle;
use wa_sidecar::Store;

const PHONE_B: &str = "972509999888";

/// `wa-sidecar run` for the device in `dir`, forwarding to `target`; returns once `/health`
/// says connected.
async fn run_sidecar(emu: &EmulatorHandle, dir: &Path, target: &str) -> Child {
    let port = sidecar_bin::free_port();
    let mut child = sidecar_bin::sidecar(emu, &emu.ws_url(), dir)
        .arg("run")
        .env("SIDECAR_BIND", format!("127.0.0.1:{port}"))
        .env("BAILEYS_WEBHOOK_TARGET", target)
        .env("BAILEYS_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    sidecar_bin::wait_healthy(&mut child, port, DEADLINE).await;
    child
}

async fn admin_state(emu: &EmulatorHandle) -> Value {
    reqwest::get(format!("{}/admin/state", emu.admin_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the emulator's `/admin/state` satisfies `ok`.
async fn wait_admin(emu: &EmulatorHandle, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let state = admin_state(emu).await;
        if ok(&state) {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never happened: {state}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_outbox_write_before_the_receipt_delivers_once_after_restart() {
    let emu = emulator().await;
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    pair_as(&emu, dir_a.path(), PHONE).await;
    let jid_b = pair_as(&emu, dir_b.path(), PHONE_B).await;
    let hook_a = Recorder::start().await;
    let hook_b = Recorder::start().await;

    let a = start_service(&emu, dir_a.path(), &hook_a.url, 60).await;
    let mut b = run_sidecar(&emu, dir_b.path(), &hook_b.url).await;
    // A first message establishes the session and is delivered normally.
    send_text(&a, PHONE_B, "before", "k-0").await;
    hook_b.wait_text("before").await;

    // The gateway is down and the server will not see B's receipt.
    hook_b.up.store(false, Ordering::SeqCst);
    admin_post(
        &emu,
        "/admin/fault",
        json!({"kind": "hold_receipts", "on": true}),
    )
    .await;
    let id = send_text(&a, PHONE_B, "in flight when killed", "k-1").await;
    // B decrypted it, committed it to its outbox, flushed, and only then sent the receipt.
    wait_admin(&emu, "B's receipt", |s| s["held_receipts"] == 1).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while *hook_b.refused.lock().unwrap() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never tried the webhook"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.kill().await.unwrap(); // SIGKILL
    admin_post(
        &emu,
        "/admin/fault",
        json!({"kind": "hold_receipts", "on": false}),
    )
    .await;

    // On disk: the message, waiting for the gateway. At the server: still unacknowledged.
    assert_eq!(Store::open(dir_b.path()).unwrap().outbox_len(), 1);
    let state = wait_admin(&emu, "B's disconnect", |s| {
        s["connections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["jid"] != jid_b.as_str())
    })
    .await;
    assert_eq!(state["unacked"][jid_b.as_str()], Value::Null, "{state}");

    // Restart with the gateway back: the server redelivers the stanza, B recognises it and
    // acknowledges it; the gateway gets the message once.
    hook_b.up.store(true, Ordering::SeqCst);
    let mut b = run_sidecar(&emu, dir_b.path(), &hook_b.url).await;
    let got = hook_b.wait_text("in flight when killed").await;
    assert_eq!(got["messageId"], id.as_str());
    // A hears that its message was delivered: B's receipt reached the server this time.
    let receipt = hook_a.wait_receipt(&id).await;
    assert_eq!(receipt["status"], "delivered");
    wait_admin(&emu, "the redelivery's receipt", |s| {
        s["unacked"].get(jid_b.as_str()).is_none()
    })
    .await;

    // The sessions still work both ways, and nothing was forwarded twice.
    send_text(&a, PHONE_B, "after", "k-2").await;
    hook_b.wait_text("after").await;
    let texts: Vec<Value> = hook_b
        .messages()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        vec![
            json!("before"),
            json!("in flight when killed"),
            json!("after")
        ]
    );

    b.kill().await.unwrap();
    a.shutdown().await;
}
