//! `wa-emulator`: runs the WhatsApp server emulator until Ctrl-C.
//!
//! Prints on stdout at start:
//! ```text
//! ws: ws://127.0.0.1:PORT/ws/chat
//! admin: http://127.0.0.1:PORT
//! root-key: <hex>
//! ```

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use wa_emulator::{Emulator, EmulatorConfig};

/// WhatsApp server emulator for tests.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// WebSocket listen address (port 0 picks a free port).
    #[arg(long, env = "WA_EMULATOR_WS_BIND", default_value = "127.0.0.1:0")]
    ws: SocketAddr,
    /// Admin HTTP listen address (port 0 picks a free port).
    #[arg(long, env = "WA_EMULATOR_ADMIN_BIND", default_value = "127.0.0.1:0")]
    admin: SocketAddr,
    /// 32-byte hex seed for the root key pair (a stable root key across runs); random if absent.
    #[arg(long, env = "WA_EMULATOR_ROOT_SEED")]
    root_seed: Option<String>,
    /// How many refs (QR codes) `pair-device` carries; the real server sends 6.
    #[arg(long, env = "WA_EMULATOR_PAIR_REFS", default_value_t = 6,
          value_parser = clap::value_parser!(u16).range(1..))]
    pair_refs: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "wa_emulator=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let root_seed = match args.root_seed {
        None => None,
        Some(hex_seed) => {
            let bytes = hex::decode(hex_seed.trim()).context("WA_EMULATOR_ROOT_SEED is not hex")?;
            Some(
                <[u8; 32]>::try_from(bytes.as_slice())
                    .ok()
                    .context("WA_EMULATOR_ROOT_SEED must be 32 bytes (64 hex characters)")?,
            )
        }
    };
    let handle = Emulator::start(EmulatorConfig {
        ws_addr: args.ws,
        admin_addr: args.admin,
        root_seed,
        pair_refs: usize::from(args.pair_refs),
    })
    .await
    .context("binding the emulator's listeners")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ws: {}", handle.ws_url())?;
    writeln!(out, "admin: {}", handle.admin_url())?;
    writeln!(out, "root-key: {}", handle.root_public_key_hex())?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}
