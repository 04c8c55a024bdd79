//! The real `wa-sidecar` binary linking and unlinking against the emulator: `login --phone`
//! (the code read from stdout and entered at the emulated phone; a wrong code does not pair),
//! a logout the server refuses, and `login` when every QR code expires.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod sidecar_bin;

use std::time::Duration;

use common::*;
use serde_json::json;
use sidecar_bin::{output_within, sidecar};
use wa_emulator::{Emulator, EmulatorConfig};

async fn output(cmd: tokio::process::Command) -> (std::process::ExitStatus, String, String) {
    output_within(cmd, DEADLINE).await
}

#[tokio::test]
async fn a_refused_logout_keeps_the_device_and_exits_non_zero() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let jid = pair(&emu, dir.path()).await;
    admin_post(
        &emu,
        "/admin/fault",
        json!({"kind": "refuse_logouts", "on": true}),
    )
    .await;

    let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
    c.arg("logout");
    let (status, out, err) = output(c).await;
    assert_eq!(status.code(), Some(1), "{out} {err}");
    assert!(err.contains("500 internal-server-error"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert!(!out.contains("logged out"), "{out}");
    let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
    c.arg("status");
    let (_, out, _) = output(c).await;
    assert!(out.contains(&format!("paired: {jid}")), "state kept: {out}");
    assert_eq!(emu.devices().len(), 1, "still linked at the server");

    // Accepted: the emulator forgets the device and the local state goes.
    admin_post(
        &emu,
        "/admin/fault",
        json!({"kind": "refuse_logouts", "on": false}),
    )
    .await;
    let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
    c.arg("logout");
    let (status, out, err) = output(c).await;
    assert!(status.success(), "{out} {err}");
    assert!(out.contains("logged out"), "{out}");
    assert!(emu.devices().is_empty(), "the server forgot the device");
}

/// With one ref the first (and last) QR code lives 60 s; then `login` gives up with exit 3.
#[tokio::test]
async fn login_says_when_the_qr_codes_ran_out_and_exits_3() {
    let emu = Emulator::start(EmulatorConfig {
        pair_refs: 1,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
    c.arg("login");
    let (status, out, err) = output_within(c, Duration::from_secs(120)).await;
    assert_eq!(status.code(), Some(3), "{out} {err}");
    assert_eq!(out.matches("qr-data: ").count(), 1, "{out}");
    assert!(err.contains("no QR code was scanned in time"), "{err}");
    assert!(emu.devices().is_empty());
}
