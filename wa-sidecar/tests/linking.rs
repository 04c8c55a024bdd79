//! The real `wa-sidecar` binary linking and unlinking against the emulator: `login --phone`
//! (the code read from stdout and entered at the emulated phone; a wrong code does not pair),
//! a logout the server refuses, and `login` when every QR code expires.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod sidecar_bin;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::json;
use sidecar_bin::{output_within, sidecar};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use wa_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

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

/// The phone's user types `code` for `phone` at the emulator; returns the HTTP status and body.
async fn enter_code(emu: &EmulatorHandle, phone: &str, code: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/admin/pair-code", emu.admin_url()))
        .json(&json!({ "phone": phone, "code": code }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// `login --phone`: the code is read from stdout and typed into the emulated phone, once
/// wrongly (refused, nothing paired) and then right; `login` exits 0, `status` shows the
/// device and `run` logs in with it without any QR code.
#[tokio::test]
async fn login_by_phone_number_code_then_run_logs_in() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = sidecar(&emu, &emu.ws_url(), dir.path());
    cmd.args(["login", "--phone", "+972 50 123 4567"]);
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stderr_text = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (code, printed) =
        sidecar_bin::line_with_prefix(&mut lines, "pairing-code: ", DEADLINE).await;
    assert!(!printed.contains("qr-data"), "{printed}");
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(&code[4..5], "-", "{code}");

    // A mistyped code: the companion's key bundle does not open at the phone.
    let wrong: String = code
        .chars()
        .map(|c| match c {
            '-' => '-',
            'Z' => 'Y',
            _ => 'Z',
        })
        .collect();
    let (status, body) = enter_code(&emu, PHONE, &wrong).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("wrong pairing code"),
        "{body}"
    );
    assert!(emu.devices().is_empty(), "a wrong code must not pair");

    // Typed right: paired.
    let (status, device) = enter_code(&emu, PHONE, &code).await;
    assert_eq!(status, 200, "{device}");
    let jid = device["jid"].as_str().unwrap().to_owned();
    assert!(jid.starts_with(&format!("{PHONE}:")), "{jid}");
    let (status, rest) = sidecar_bin::rest_and_exit(&mut lines, &mut child, DEADLINE).await;
    let err = stderr_text.await.unwrap();
    assert!(status.success(), "login failed: {status} {rest} {err}");
    assert!(rest.contains(&format!("paired as {jid}")), "{rest}");
    assert!(
        err.contains("pairing: the phone did not accept the pairing"),
        "the wrong attempt was not reported: {err}"
    );
    assert!(!err.contains(&code), "the code was logged: {err}");

    let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
    c.arg("status");
    let (_, out, _) = output(c).await;
    assert!(out.contains(&format!("paired: {jid}")), "{out}");

    // `run` logs in with the saved device.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut run = sidecar(&emu, &emu.ws_url(), dir.path());
    run.arg("run")
        .env("SIDECAR_BIND", format!("127.0.0.1:{port}"))
        .env(
            "BAILEYS_WEBHOOK_TARGET",
            "http://127.0.0.1:9/api/whatsapp/baileys",
        )
        .env("BAILEYS_WEBHOOK_SECRET", "s3cret-value-for-test")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = run.spawn().unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let body = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(resp) = reqwest::get(format!("http://{addr}/health")).await
                && resp.status() == 200
            {
                return resp.json::<serde_json::Value>().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("/health never became 200");
    assert_eq!(body["device"], jid.as_str());
    child.kill().await.unwrap();
}
