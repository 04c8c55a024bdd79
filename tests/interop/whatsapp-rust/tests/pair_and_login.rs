//! UNMODIFIED whatsapp-rust 0.7 against the emulator, mirroring
//! `tests/wa-emulator/tests/baileys_interop.rs`.
//!
//! What passes against today's emulator: the QR, the scan through the admin API, pair-success
//! (whatsapp-rust checks the emulator's signed device identity), the 515 restart, the login with
//! the new identity, and the logout when the phone removes the device.
//!
//! What does not yet (the `#[ignore]`d test, run with `cargo test -- --ignored`), because the
//! emulator lacks two things whatsapp-rust needs, see README.md:
//! * the initial app-state sync (`iq set xmlns="w:sync:app:state"`, answered 501 today):
//!   whatsapp-rust only emits `Connected` after the critical collections synced;
//! * Noise IK (and its XXfallback): every login after the first from a saved store resumes with
//!   IK using the cached server static key; the emulator answers with a plain XX ServerHello.
//!
//! Needs the emulator binary (`cargo build -p wa-emulator --bin wa-emulator` in the repository
//! root, or `WA_EMULATOR_BIN`). `RUST_LOG=info` shows whatsapp-rust's logs, `wa_emulator=debug`
//! the emulator's.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use wr_interop::{EmulatorProcess, Seen, Session};

/// Generous: a cold debug build of both sides on a 2-core machine is slow to answer.
const STEP: Duration = Duration::from_secs(60);

fn init_logs() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .is_test(true)
        .try_init();
}

/// Starts whatsapp-rust on a fresh store `db`, scans its QR as `phone`, waits for pair-success
/// and for the login that follows the server's 515 restart. Returns the session and device JID.
async fn pair(emu: &EmulatorProcess, db: &Path, phone: &str) -> anyhow::Result<(Session, String)> {
    let mut wr = Session::start(&emu.ws_url, db).await?;
    let qr = wr
        .expect("a pairing QR", STEP, |s| match s {
            Seen::Qr(code) => Some(code.clone()),
            _ => None,
        })
        .await?;
    let (status, device) = emu
        .post("/admin/scan", &json!({ "qr": qr, "phone": phone }))
        .await?;
    anyhow::ensure!(status == 200, "scan answered {status}: {device}");
    let jid = device["jid"].as_str().unwrap_or_default().to_owned();
    assert_eq!(jid, format!("{phone}:1@s.whatsapp.net"));
    let paired = wr
        .expect("pair-success", STEP, |s| match s {
            Seen::PairSuccess(id) => Some(id.clone()),
            Seen::PairError(e) => Some(format!("pair error: {e}")),
            _ => None,
        })
        .await?;
    assert_eq!(paired, jid);
    wr.wait_logged_in("after the 515 restart", STEP).await?;
    Ok((wr, jid))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_pairs_by_qr_logs_in_and_is_logged_out() -> anyhow::Result<()> {
    init_logs();
    let emu = EmulatorProcess::start().await?;
    let dir = tempfile::tempdir()?;
    let (mut wr, jid) = pair(&emu, &dir.path().join("whatsapp.db"), "972500000021").await?;

    // The emulator holds the device and a logged-in connection for it.
    let (_, devices) = emu.get("/admin/devices").await?;
    assert_eq!(devices.as_array().map(Vec::len), Some(1), "{devices}");
    assert_eq!(devices[0]["jid"], jid.as_str());
    let (_, state) = emu.get("/admin/state").await?;
    let online = state["connections"].as_array().into_iter().flatten();
    assert_eq!(
        online.filter(|c| c["jid"] == jid.as_str()).count(),
        1,
        "{state}"
    );
    assert!(
        !wr.seen.iter().any(|s| matches!(s, Seen::LoggedOut(_))),
        "{:?}",
        wr.seen
    );

    // The phone removes the device: whatsapp-rust is logged out.
    let (status, answer) = emu
        .post("/admin/remove-device", &json!({ "jid": jid }))
        .await?;
    assert_eq!(status, 200, "{answer}");
    wr.expect("the logout", STEP, |s| match s {
        Seen::LoggedOut(reason) => Some(reason.clone()),
        _ => None,
    })
    .await?;
    let (_, devices) = emu.get("/admin/devices").await?;
    assert_eq!(devices, json!([]));
    wr.shutdown().await;
    emu.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the emulator does not serve w:sync:app:state nor Noise IK yet (README.md)"]
async fn whatsapp_rust_is_connected_logs_in_again_and_reconnects_after_a_drop() -> anyhow::Result<()>
{
    init_logs();
    let emu = EmulatorProcess::start().await?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("whatsapp.db");
    let (mut wr, _jid) = pair(&emu, &db, "972500000022").await?;
    // `Connected` follows the initial app-state sync of the critical collections.
    wr.expect("Connected after pairing", STEP, |s| {
        (*s == Seen::Connected).then_some(())
    })
    .await?;
    wr.shutdown().await;

    // A new client on the saved store (Noise IK with the cached server key) logs in without a QR.
    let mut wr = Session::start(&emu.ws_url, &db).await?;
    wr.expect("Connected from the saved store", STEP, |s| {
        (*s == Seen::Connected).then_some(())
    })
    .await?;
    assert!(
        !wr.seen.iter().any(|s| matches!(s, Seen::Qr(_))),
        "login must not show a QR: {:?}",
        wr.seen
    );

    // The server drops every connection: whatsapp-rust reconnects and is connected again.
    let (status, answer) = emu.post("/admin/fault", &json!({ "kind": "drop" })).await?;
    assert_eq!(status, 200, "{answer}");
    wr.expect("the disconnect", STEP, |s| {
        matches!(s, Seen::Disconnected(_)).then_some(())
    })
    .await?;
    wr.expect("Connected after the drop", STEP, |s| {
        (*s == Seen::Connected).then_some(())
    })
    .await?;
    wr.shutdown().await;
    emu.stop().await;
    Ok(())
}
