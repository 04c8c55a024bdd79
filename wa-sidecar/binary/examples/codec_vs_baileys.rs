//! Codec throughput beside Baileys' own encoder/decoder on the same nodes, in one run:
//!
//! ```text
//! (cd tests/interop/baileys && npm ci)   # once
//! cargo run --release -p wa-binary --example codec_vs_baileys [-- <millis per measurement>]
//! ```
//!
//! Measures our `encode`/`decode` per sample stanza, hands the same nodes (as JSON) to
//! `tests/interop/baileys/codec_bench.mjs`, which times UNMODIFIED Baileys and reports whether its
//! bytes equal ours, and prints both with the ratio.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};
use wa_binary::{decode, encode, samples::sample_nodes};

fn per_sec(mut f: impl FnMut(), min: Duration) -> f64 {
    for _ in 0..2000 {
        f();
    }
    let start = Instant::now();
    let mut iters = 0u64;
    while start.elapsed() < min {
        for _ in 0..1000 {
            f();
        }
        iters += 1000;
    }
    iters as f64 / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let millis: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1000);
    let min = Duration::from_millis(millis);
    let manifest = env!("CARGO_MANIFEST_DIR");
    let script = format!("{manifest}/../../tests/interop/baileys/codec_bench.mjs");

    // The node set as JSON, produced by the dump example's format.
    let dump = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "run",
            "-q",
            "--release",
            "-p",
            "wa-binary",
            "--example",
            "dump_bench_nodes",
        ])
        .output()?;
    if !dump.status.success() {
        return Err("dump_bench_nodes failed".into());
    }
    let dir = std::env::temp_dir().join(format!("codec-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let json_path = dir.join("nodes.json");
    std::fs::write(&json_path, &dump.stdout)?;

    let baileys = Command::new("node")
        .arg(&script)
        .arg(&json_path)
        .arg(millis.to_string())
        .output()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !baileys.status.success() {
        return Err(format!(
            "Baileys side failed (run `npm ci` in tests/interop/baileys): {}",
            String::from_utf8_lossy(&baileys.stderr)
        )
        .into());
    }
    let theirs: Vec<serde_json::Value> = String::from_utf8(baileys.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;

    println!(
        "{:<8} {:>6} {:>14} {:>14} {:>7} {:>14} {:>14} {:>7}  same bytes",
        "node",
        "bytes",
        "enc ours/s",
        "enc Baileys/s",
        "ratio",
        "dec ours/s",
        "dec Baileys/s",
        "ratio"
    );
    let (mut enc_ratios, mut dec_ratios) = (Vec::new(), Vec::new());
    for (name, node) in sample_nodes() {
        let bytes = encode(&node);
        let enc = per_sec(|| drop(black_box(encode(black_box(&node)))), min);
        let dec = per_sec(|| drop(black_box(decode(black_box(&bytes)))), min);
        let b = theirs
            .iter()
            .find(|v| v["name"] == name)
            .ok_or_else(|| format!("Baileys reported nothing for {name}"))?;
        let (b_enc, b_dec) = (
            b["encode_per_sec"].as_f64().unwrap_or(f64::NAN),
            b["decode_per_sec"].as_f64().unwrap_or(f64::NAN),
        );
        enc_ratios.push(enc / b_enc);
        dec_ratios.push(dec / b_dec);
        println!(
            "{:<8} {:>6} {:>14.0} {:>14.0} {:>6.1}x {:>14.0} {:>14.0} {:>6.1}x  {}",
            name,
            bytes.len(),
            enc,
            b_enc,
            enc / b_enc,
            dec,
            b_dec,
            dec / b_dec,
            b["same_bytes"]
        );
    }
    let geo = |v: &[f64]| (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp();
    println!(
        "geometric mean ratio: encode {:.1}x, decode {:.1}x (goal: at least 5x)",
        geo(&enc_ratios),
        geo(&dec_ratios)
    );
    Ok(())
}
