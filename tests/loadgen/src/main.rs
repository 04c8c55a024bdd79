//! `gateway-loadgen`: the gateway's webhook benchmark.
//!
//! Starts the real `gateway` binary as a second process on loopback (a fresh SQLite file or a fresh
//! PostgreSQL database), fires signed Twilio and sidecar webhooks at a fixed rate (open loop:
//! latency is measured from each request's scheduled start, so a stall is not hidden), then reads
//! every timeline back through the API and counts what was stored. Prints throughput, p50/p99/max
//! latency, errors and lost messages per backend.
//!
//! ```text
//! cargo build --release -p gateway -p gateway-loadgen
//! target/release/gateway-loadgen --rate 500 --seconds 20 --backend both
//! ```

mod gateway_proc;
mod load;
mod verify;

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::path::PathBuf;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Webhook load generator for the gateway (runs the gateway as a child process)")]
struct Args {
    /// Requests per second (half Twilio, half sidecar).
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Length of the run.
    #[arg(long, default_value_t = 20)]
    seconds: u32,
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Server URL used to create a fresh benchmark database.
    #[arg(
        long,
        env = "TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// The gateway binary (default: `gateway` next to this binary).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
    /// Distinct customers the messages come from.
    #[arg(long, default_value_t = 50)]
    contacts: u32,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let bin = match &args.gateway_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("binary has no parent dir")?
            .join("gateway"),
    };
    if !bin.exists() {
        bail!(
            "gateway binary not found at {} (build it with `cargo build --release -p gateway`)",
            bin.display()
        );
    }
    let backends: Vec<&str> = match args.backend.as_str() {
        "both" => vec!["sqlite", "postgres"],
        "sqlite" => vec!["sqlite"],
        "postgres" => vec!["postgres"],
        other => bail!("--backend must be sqlite, postgres or both, not {other:?}"),
    };
    println!(
        "gateway-loadgen: {} req/s for {} s, {} contacts, gateway {}",
        args.rate,
        args.seconds,
        args.contacts,
        bin.display()
    );
    let mut failed = false;
    for backend in backends {
        let report = run_backend(&args, &bin, backend).await?;
        println!("{report}");
        failed |= report.errors > 0 || report.lost > 0 || report.duplicated > 0;
    }
    if failed {
        bail!("errors or lost messages: see above");
    }
    Ok(())
}

async fn run_backend(args: &Args, bin: &std::path::Path, backend: &str) -> Result<load::Report> {
    let dir = tempfile::tempdir()?;
    let db = match backend {
        "sqlite" => gateway_proc::Database::Sqlite,
        _ => gateway_proc::Database::fresh_postgres(&args.postgres_url).await?,
    };
    let gw = gateway_proc::Gateway::spawn(bin, dir.path(), &db).await?;
    let plan = load::Plan {
        rate: args.rate,
        seconds: args.seconds,
        contacts: args.contacts,
    };
    let mut report = load::run(&gw, &plan, backend).await?;
    let stored = verify::count_stored(&gw, &report.acknowledged).await?;
    report.lost = stored.missing;
    report.duplicated = stored.duplicated;
    drop(gw);
    db.drop_database().await?;
    Ok(report)
}
