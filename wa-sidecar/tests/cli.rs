//! The real `wa-sidecar` binary: `login` (QR printed, scanned at the emulator), `status`,
//! `run` with `/health`, `logout`, and refusals on bad configuration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod sidecar_bin;

use std::path::Path;
use std::process::{ExitStatus, Stdio};

use common::*;
use sidecar_bin::{BIN, sidecar};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use wa_emulator::EmulatorHandle;

async fn output(cmd: Command) -> (ExitStatus, String, String) {
    sidecar_bin::output_within(cmd, DEADLINE).await
}

/// Runs `login`, scans the first `qr-data:` line, and waits for the exit.
async fn login(emu: &EmulatorHandle, dir: &Path) -> (ExitStatus, String) {
    let mut cmd = sidecar(emu, &emu.ws_url(), dir);
    cmd.arg("login");
    let mut child: Child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (qr, printed) = sidecar_bin::line_with_prefix(&mut lines, "qr-data: ", DEADLINE).await;
    assert!(
        printed.contains('█'),
        "no QR drawing before qr-data: {printed}"
    );
    scan(emu, &qr).await;
    sidecar_bin::rest_and_exit(&mut lines, &mut child, DEADLINE).await
}

#[tokio::test]
async fn login_status_logout_round_trip() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();

    let (_, out, _) = output({
        let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
        c.arg("status");
        c
    })
    .await;
    assert_eq!(out.trim(), "not paired");

    let (status, rest) = login(&emu, dir.path()).await;
    assert!(status.success(), "login failed: {status} {rest}");
    assert!(rest.contains("paired as 972501234567:"), "{rest}");

    let (status, out, _) = output({
        let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
        c.arg("status");
        c
    })
    .await;
    assert!(status.success());
    assert!(out.contains("paired: 972501234567:"), "{out}");
    assert!(out.contains("lid: "), "{out}");

    // a second login does not re-pair
    let (status, out, _) = output({
        let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
        c.arg("login");
        c
    })
    .await;
    assert!(status.success());
    assert!(out.contains("already paired"), "{out}");

    let (status, out, err) = output({
        let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
        c.arg("logout");
        c
    })
    .await;
    assert!(status.success(), "logout failed: {out} {err}");
    assert!(out.contains("logged out"), "{out}");

    let (_, out, _) = output({
        let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
        c.arg("status");
        c
    })
    .await;
    assert_eq!(out.trim(), "not paired");
}

#[tokio::test]
async fn logout_without_server_needs_force() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    pair(&emu, dir.path()).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/ws/chat", closed.local_addr().unwrap());
    drop(closed);

    let (status, _, err) = output({
        let mut c = sidecar(&emu, &url, dir.path());
        c.arg("logout");
        c
    })
    .await;
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--force"), "{err}");
    let (_, out, _) = output({
        let mut c = sidecar(&emu, &url, dir.path());
        c.arg("status");
        c
    })
    .await;
    assert!(out.contains("paired: "), "state must be kept: {out}");

    let (status, out, _) = output({
        let mut c = sidecar(&emu, &url, dir.path());
        c.args(["logout", "--force"]);
        c
    })
    .await;
    assert!(status.success());
    assert!(out.contains("anyway"), "{out}");
    let (_, out, _) = output({
        let mut c = sidecar(&emu, &url, dir.path());
        c.arg("status");
        c
    })
    .await;
    assert_eq!(out.trim(), "not paired");
}

#[tokio::test]
async fn run_serves_health_and_stops_on_sigterm() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let jid = pair(&emu, dir.path()).await;
    let port = sidecar_bin::free_port();
    let mut cmd = sidecar(&emu, &emu.ws_url(), dir.path());
    cmd.arg("run")
        .env("SIDECAR_BIND", format!("127.0.0.1:{port}"))
        .env(
            "BAILEYS_WEBHOOK_TARGET",
            "http://127.0.0.1:9/api/whatsapp/baileys",
        )
        .env("BAILEYS_WEBHOOK_SECRET", "s3cret-value-for-test")
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().unwrap();
    let body = sidecar_bin::wait_healthy(&mut child, port, DEADLINE).await;
    assert_eq!(body["device"], jid.as_str());
    // the running service holds the store: `status` says so instead of failing obscurely
    let (status, _, err) = output({
        let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
        c.arg("status");
        c
    })
    .await;
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("in use by another wa-sidecar"), "{err}");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn run_refuses_bad_configuration_naming_the_variable() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("BAILEYS_WEBHOOK_TARGET", "http://127.0.0.1:9/hook")],
            "BAILEYS_WEBHOOK_SECRET",
        ),
        (
            &[("BAILEYS_WEBHOOK_SECRET", "leak-check")],
            "BAILEYS_WEBHOOK_TARGET",
        ),
        (
            &[
                ("BAILEYS_WEBHOOK_TARGET", "http://127.0.0.1:9/hook"),
                ("BAILEYS_WEBHOOK_SECRET", "leak-check"),
                ("WA_DANGER_TRUST_ROOT_KEY", "not-hex"),
            ],
            "WA_DANGER_TRUST_ROOT_KEY",
        ),
    ];
    for (env, var) in cases {
        let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
        c.arg("run").envs(env.iter().copied());
        let (status, _, err) = output(c).await;
        assert_eq!(status.code(), Some(78), "{var}: {err}");
        assert!(err.contains(var), "{var}: {err}");
        assert!(!err.contains("leak-check"), "a secret was printed: {err}");
    }
    // configured but never paired: refuses, exit code 5 (not restarted by systemd)
    let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
    c.arg("run")
        .env("BAILEYS_WEBHOOK_TARGET", "http://127.0.0.1:9/hook")
        .env("BAILEYS_WEBHOOK_SECRET", "x");
    let (status, _, err) = output(c).await;
    assert_eq!(status.code(), Some(5), "{err}");
    assert!(err.contains("login"), "{err}");
}

#[tokio::test]
async fn help_documents_every_variable_and_a_bad_phone_is_a_config_error() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "WA_WS_URL",
        "WA_STATE_DIR",
        "SIDECAR_BIND",
        "BAILEYS_WEBHOOK_TARGET",
        "BAILEYS_WEBHOOK_SECRET",
        "WA_DANGER_TRUST_ROOT_KEY",
        "login --phone",
        "Link with phone number",
    ] {
        assert!(help.contains(var), "--help lacks {var}");
    }
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0501234567", "97250", "972-50-abc", ""] {
        let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
        c.args(["login", "--phone", bad]);
        let (status, out, err) = output(c).await;
        assert_eq!(status.code(), Some(78), "{bad:?}: {out} {err}");
        assert!(err.contains("--phone"), "{bad:?}: {err}");
        assert!(!out.contains("pairing-code"), "{bad:?}: {out}");
    }
}

#[tokio::test]
async fn corrupt_state_is_refused_naming_the_path_never_re_paired() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    {
        let store = wa_sidecar::Store::open(dir.path()).unwrap();
        store.put_raw_device_record(b"\x01{truncated").unwrap();
    }
    for args in [&["status"][..], &["login"], &["logout"]] {
        let mut c = sidecar(&emu, &emu.ws_url(), dir.path());
        c.args(args);
        let (status, out, err) = output(c).await;
        assert_eq!(status.code(), Some(65), "{args:?}: {out} {err}");
        assert!(err.contains("corrupt"), "{args:?}: {err}");
        assert!(
            err.contains(&dir.path().display().to_string()),
            "{args:?}: {err}"
        );
        assert!(!out.contains("qr-data"), "{args:?} started pairing: {out}");
    }
    // the record is untouched
    let store = wa_sidecar::Store::open(dir.path()).unwrap();
    assert!(store.load_device().is_err());
}
