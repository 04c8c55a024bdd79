//! Pairing devices through the library API (the emulated phone scans).

use std::path::Path;

use anyhow::{Context, bail};
use tokio::sync::watch;
use wa_core::{CertPolicy, DeviceState};
use wa_emulator::EmulatorHandle;
use wa_sidecar::{Driver, DriverConfig, LinkState, PairEnd, Store};

use crate::STEP;

fn driver_config(emu: &EmulatorHandle) -> DriverConfig {
    DriverConfig {
        ws_url: emu.ws_url(),
        cert_policy: CertPolicy::danger_trust_root(emu.root_public_key()),
    }
}

/// Pairs a fresh device of account `phone` into the store at `dir` (the emulated phone scans).
pub(crate) async fn pair(emu: &EmulatorHandle, dir: &Path, phone: &str) -> anyhow::Result<()> {
    let store = Store::open(dir)?;
    let (_stop_tx, stop) = watch::channel(false);
    let mut driver = Driver::new(driver_config(emu), store, stop);
    let mut link = driver.subscribe();
    let device = DeviceState::generate(&mut rand::rngs::OsRng);
    let pairing = tokio::spawn(async move { driver.pair(device).await });
    let qr = tokio::time::timeout(STEP, async {
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
    emu.scan(&qr, phone)
        .await
        .map_err(|e| anyhow::anyhow!("scan failed: {e}"))?;
    match tokio::time::timeout(STEP, pairing).await??? {
        PairEnd::Paired { .. } => Ok(()),
        other => bail!("pairing ended with {other:?}"),
    }
}
