//! UNMODIFIED whatsapp-rust 0.7 against the emulator, mirroring
//! `tests/wa-emulator/tests/baileys_interop.rs`.
//!
//! * pairing: the QR, the scan through the admin API, pair-success (whatsapp-rust checks the
//!   emulator's signed device identity), the 515 restart, the login with the new identity, and
//!   the logout when the phone removes the device;
//! * `Connected`, which whatsapp-rust emits only after the initial app-state sync of the
//!   critical collections (`iq set xmlns="w:sync:app:state"`);
//! * a new process logging in from the saved store with Noise IK (the cached server key), and
//!   reconnecting with IK after the server dropped the connection;
//! * a stale cached server key: the server answers for XXfallback, the client logs in and caches
//!   the right key, and its next reconnect resumes with IK again.
//!
//! The tests run one at a time (`SERIAL`): which Noise pattern each handshake completed with is
//! read from whatsapp-rust's log ([`wr_interop::handshakes`]), which is per process.
//!
//! Needs the emulator binary (`cargo build -p wa-emulator --bin wa-emulator` in the repository
//! root, or `WA_EMULATOR_BIN`). `RUST_LOG=info` shows whatsapp-rust's logs, `wa_emulator=debug`
//! the emulator's.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use serde_json::json;
use wr_interop::{
    EmulatorProcess, Seen, Session, cached_server_key, handshakes, replace_cached_server_key,
};

/// Generous: a cold debug build of both sides on a 2-core machine is slow to answer.
const STEP: Duration = Duration::from_secs(60);

/// One test at a time: the handshake record is per process.
static SERIAL: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

/// The patterns of the handshakes completed since `mark` (a length of [`handshakes::completed`]).
fn handshakes_since(mark: usize) -> Vec<String> {
    handshakes::completed().split_off(mark)
}

async fn connected(wr: &mut Session, what: &str) -> anyhow::Result<()> {
    wr.expect(what, STEP, |s| (*s == Seen::Connected).then_some(()))
        .await
}

/// Drops every connection (`POST /admin/fault {"kind":"drop"}`) and waits until whatsapp-rust
/// saw the disconnect and is connected again.
async fn drop_and_reconnect(emu: &EmulatorProcess, wr: &mut Session) -> anyhow::Result<()> {
    let (status, answer) = emu.post("/admin/fault", &json!({ "kind": "drop" })).await?;
    anyhow::ensure!(status == 200, "drop answered {status}: {answer}");
    wr.expect("the disconnect", STEP, |s| {
        matches!(s, Seen::Disconnected(_)).then_some(())
    })
    .await?;
    connected(wr, "Connected after the drop").await
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
    handshakes::init();
    let _serial = SERIAL.lock().await;
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
async fn whatsapp_rust_is_connected_logs_in_again_with_ik_and_reconnects_after_a_drop()
-> anyhow::Result<()> {
    handshakes::init();
    let _serial = SERIAL.lock().await;
    let emu = EmulatorProcess::start().await?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("whatsapp.db");
    let mark = handshakes::completed().len();
    let (mut wr, _jid) = pair(&emu, &db, "972500000022").await?;
    // Registration, then the login after 515: both XX (nothing cached while unregistered).
    assert_eq!(handshakes_since(mark), ["XX", "XX"]);
    // `Connected` follows the initial app-state sync of the critical collections.
    connected(&mut wr, "Connected after pairing").await?;
    wr.shutdown().await;

    // A new client on the saved store resumes with Noise IK and logs in without a QR.
    let mark = handshakes::completed().len();
    let mut wr = Session::start(&emu.ws_url, &db).await?;
    connected(&mut wr, "Connected from the saved store").await?;
    assert!(
        !wr.seen.iter().any(|s| matches!(s, Seen::Qr(_))),
        "login must not show a QR: {:?}",
        wr.seen
    );
    assert_eq!(handshakes_since(mark), ["IK"]);

    // The server drops every connection: whatsapp-rust reconnects (IK) and is connected again.
    let mark = handshakes::completed().len();
    drop_and_reconnect(&emu, &mut wr).await?;
    assert_eq!(handshakes_since(mark), ["IK"]);
    wr.shutdown().await;
    emu.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_cached_server_key_falls_back_to_xxfallback_then_ik_works_again()
-> anyhow::Result<()> {
    handshakes::init();
    let _serial = SERIAL.lock().await;
    let emu = EmulatorProcess::start().await?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("whatsapp.db");
    let (wr, _jid) = pair(&emu, &db, "972500000023").await?;
    wr.shutdown().await;

    // As if the server had rotated its static key since: the client caches another one (a
    // real curve point, the emulator's root key, so only the mismatch is tested).
    let stale = hex32(&emu.root_key)?;
    let server_key = replace_cached_server_key(&db, stale).await?;
    assert_ne!(server_key, stale);

    let mark = handshakes::completed().len();
    let mut wr = Session::start(&emu.ws_url, &db).await?;
    connected(&mut wr, "Connected after the fallback").await?;
    assert_eq!(handshakes_since(mark), ["XXfallback"]);

    // The fallback cached the server's real key, so the next reconnect resumes with IK.
    let mark = handshakes::completed().len();
    drop_and_reconnect(&emu, &mut wr).await?;
    assert_eq!(handshakes_since(mark), ["IK"]);
    wr.shutdown().await;
    assert_eq!(cached_server_key(&db).await?, Some(server_key));
    emu.stop().await;
    Ok(())
}

fn hex32(hex: &str) -> anyhow::Result<[u8; 32]> {
    anyhow::ensure!(hex.len() == 64, "not 32 bytes of hex: {hex}");
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}
