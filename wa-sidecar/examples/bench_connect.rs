//! Startup and memory figures for the real `wa-sidecar` binary against a local emulator.
//!
//! ```text
//! cargo build --release -p wa-sidecar --bins --examples
//! target/release/examples/bench_connect [RUNS]        # default 20 runs
//! ```
//!
//! Pairs one device (library API) into a template state directory, then RUNS times: copies
//! the directory, spawns `wa-sidecar run` on the copy and measures the time from spawn to the
//! `connected` log line. Finally keeps one sidecar connected and idle for 5 s and reads its
//! resident memory (VmRSS, VmHWM) from /proc. The binary is looked up next to this example's
//! directory, or taken from `WA_SIDECAR_BIN`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use wa_core::{CertPolicy, DeviceState};
use wa_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use wa_sidecar::{Driver, DriverConfig, LinkState, PairEnd, Store};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()
        .context("RUNS must be a number")?
        .unwrap_or(20);
    let bin = sidecar_binary()?;
    let emu = Emulator::start(EmulatorConfig::default()).await?;
    let template = tempfile::tempdir()?;
    pair(&emu, template.path()).await?;

    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        copy_dir(template.path(), dir.path())?;
        let started = Instant::now();
        let mut child = spawn(&bin, &emu, dir.path())?;
        wait_connected(&mut child).await?;
        times.push(started.elapsed());
        stop(child).await?;
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "start-to-connected over {runs} runs: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );

    let dir = tempfile::tempdir()?;
    copy_dir(template.path(), dir.path())?;
    let mut child = spawn(&bin, &emu, dir.path())?;
    wait_connected(&mut child).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pid = child.id().context("sidecar exited")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in status.lines() {
        if line.starts_with("VmRSS") || line.starts_with("VmHWM") {
            println!("idle connected sidecar {line}");
        }
    }
    stop(child).await?;
    Ok(())
}

fn sidecar_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("WA_SIDECAR_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("wa-sidecar"))
        .context("cannot locate the target directory")?;
    if !bin.exists() {
        bail!(
            "{} not found: cargo build --release -p wa-sidecar --bins",
            bin.display()
        );
    }
    Ok(bin)
}

async fn pair(emu: &EmulatorHandle, dir: &Path) -> anyhow::Result<()> {
    let store = Store::open(dir)?;
    let (_stop_tx, stop) = watch::channel(false);
    let cfg = DriverConfig {
        ws_url: emu.ws_url(),
        cert_policy: CertPolicy::danger_trust_root(emu.root_public_key()),
    };
    let mut driver = Driver::new(cfg, store, stop);
    let mut link = driver.subscribe();
    let device = DeviceState::generate(&mut rand::rngs::OsRng);
    let pairing = tokio::spawn(async move { driver.pair(device).await });
    let qr = tokio::time::timeout(DEADLINE, async {
        loop {
            if let LinkState::QrPending { qr, .. } = &*link.borrow_and_update() {
                return Ok(qr.clone());
            }
            link.changed().await?;
        }
    })
    .await
    .context("no QR code")?
    .map_err(|e: watch::error::RecvError| anyhow::anyhow!(e))?;
    let resp = reqwest::Client::new()
        .post(format!("{}/admin/scan", emu.admin_url()))
        .json(&serde_json::json!({ "qr": qr, "phone": "972501234567" }))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("scan failed: {}", resp.text().await?);
    }
    match tokio::time::timeout(DEADLINE, pairing).await??? {
        PairEnd::Paired { .. } => Ok(()),
        other => bail!("pairing ended with {other:?}"),
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn spawn(bin: &Path, emu: &EmulatorHandle, dir: &Path) -> anyhow::Result<Child> {
    Ok(Command::new(bin)
        .arg("run")
        .env_clear()
        .env("WA_WS_URL", emu.ws_url())
        .env("WA_STATE_DIR", dir)
        .env("WA_DANGER_TRUST_ROOT_KEY", emu.root_public_key_hex())
        .env("SIDECAR_BIND", "127.0.0.1:0")
        .env(
            "BAILEYS_WEBHOOK_TARGET",
            "http://127.0.0.1:9/api/whatsapp/baileys",
        )
        .env("BAILEYS_WEBHOOK_SECRET", "bench")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?)
}

/// Reads the sidecar's log until the `connected` line.
async fn wait_connected(child: &mut Child) -> anyhow::Result<()> {
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await? {
            if line.contains(" connected") && line.contains("jid=") {
                // keep draining the log so the child never blocks on a full pipe
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                return Ok(());
            }
        }
        bail!("sidecar exited before connecting")
    })
    .await
    .context("sidecar did not connect in time")?
}

async fn stop(mut child: Child) -> anyhow::Result<()> {
    if let Some(pid) = child.id() {
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
    }
    tokio::time::timeout(DEADLINE, child.wait()).await??;
    Ok(())
}
