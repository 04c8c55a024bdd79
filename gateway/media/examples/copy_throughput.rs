//! Bench: copy one media file from a local HTTP server into a folder store and report MB/s.
//!
//! `cargo run --release -p media-store --example copy_throughput -- [MiB] [rounds]`
//! (default 16 MiB, 5 rounds; each round uses different bytes, so every copy is a real write).

use std::time::Instant;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use media_store::{MediaConfig, MediaPipeline, SizeLimits};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(16);
    let rounds: u8 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let size = mib * 1024 * 1024;

    let app = Router::new().route(
        "/media/{round}",
        get(move |Path(round): Path<u8>| async move {
            ([("content-type", "video/mp4")], vec![round; size])
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir()?;
    let mut cfg = MediaConfig::new(dir.path().to_string_lossy());
    cfg.limits = SizeLimits {
        video: u64::MAX,
        overall_cap: u64::MAX,
        ..SizeLimits::default()
    };
    let pipeline = MediaPipeline::new(cfg).await?;

    let mut total = 0.0;
    for round in 0..rounds {
        let started = Instant::now();
        let stored = pipeline
            .copy_from_url(&format!("http://{addr}/media/{round}"), None)
            .await?;
        let secs = started.elapsed().as_secs_f64();
        total += secs;
        println!(
            "round {round}: {} bytes in {:.1} ms ({:.0} MiB/s)",
            stored.size,
            secs * 1e3,
            mib as f64 / secs
        );
    }
    println!(
        "mean: {:.0} MiB/s (download + sha256 + fsync + rename)",
        f64::from(rounds) * mib as f64 / total
    );
    Ok(())
}
