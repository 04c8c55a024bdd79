//! Messaging figures for wa-sidecar (the real release binary) beside Baileys 7.0.0-rc14 (Node),
//! through the same in-process WhatsApp emulator, in the same run (issue 5, "Measure").
//!
//! ```text
//! cargo build --release -p gateway -p wa-sidecar --bins --examples
//! target/release/examples/bench_messaging [--messages 2000] [--concurrency 1,16]
//!                                         [--inbound 1000] [--rate 50]
//! ```
//!
//! Three accounts on one emulator: the device under test A (wa-sidecar), the device under test B
//! (Baileys through `tests/interop/baileys/msg_bench.mjs`) and a peer P (a second `wa-sidecar`
//! process, forwarding what it decrypts to a recorder in this process). A real `gateway` binary on SQLite in a temporary folder receives both
//! devices' inbound webhooks.
//!
//! 1. Outbound: each device sends one text to P (session set-up, not timed), then for each
//!    concurrency K, N texts to P in a closed loop with K workers: a worker sends one message,
//!    waits until the server acknowledged it, then sends the next. wa-sidecar: `POST /send`
//!    (answers after the server's ack; HTTP, idempotency record and pacing included); Baileys:
//!    `sock.sendMessage` then the `<ack class="message">` of that id. msgs/s = N / (first
//!    request → last ack). P is offline meanwhile (the emulator queues); afterwards P logs in
//!    and must decrypt every text of both devices.
//! 2. Inbound: P sends M texts to each device, open loop at R per second; latency runs from
//!    the moment P's `/send` is called (and, second figure, from the moment the server
//!    acknowledged the text to P, i.e. holds it) to the moment the gateway's live event feed
//!    (`/api/events/stream`) shows the stored message. p50/p99.
//! 3. Memory: VmRSS idle (connected, before load), VmHWM (peak) and VmRSS after the load,
//!    from /proc; CPU time of each process during the outbound batches.

mod baileys;
mod feed;
mod procs;
mod report;
mod setup;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;
use wa_emulator::{Emulator, EmulatorConfig};

use baileys::Baileys;
use report::report;
use setup::pair;

const SECRET: &str = "bench-secret";
const TOKEN: &str = "bench-api-token-0123456789";
const SIDECAR_PHONE: &str = "972500000001";
const BAILEYS_PHONE: &str = "972500000002";
const PEER_PHONE: &str = "972500000003";
const STEP: Duration = Duration::from_secs(60);
const DRAIN: Duration = Duration::from_secs(600);
/// Pace of `/send` for the bench: far above anything reached.
const UNPACED_PER_MIN: u32 = 100_000_000;

#[derive(Parser)]
struct Args {
    /// Texts per outbound batch.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Outbound concurrency levels (workers), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    concurrency: Vec<usize>,
    /// Inbound texts per device.
    #[arg(long, default_value_t = 1000)]
    inbound: usize,
    /// Inbound texts per second (open loop).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
}

/// One outbound batch.
struct Batch {
    ok: u64,
    failed: u64,
    elapsed: Duration,
    cpu: Duration,
}

impl Batch {
    fn per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    fn cpu_us_per_msg(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ok.max(1) as f64
    }
}

#[derive(Default)]
struct Figures {
    batches: Vec<(usize, Batch)>,
    inbound: Vec<Duration>,
    inbound_from_ack: Vec<Duration>,
    inbound_cpu: Duration,
    idle_rss: u64,
    after_rss: u64,
    peak: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.messages == 0 || args.inbound == 0 || args.rate <= 0.0 || args.concurrency.is_empty() {
        bail!("--messages, --inbound, --rate and --concurrency must be positive");
    }
    let sidecar_bin = procs::release_bin("wa-sidecar", "WA_SIDECAR_BIN")?;
    let gateway_bin = procs::release_bin("gateway", "GATEWAY_BIN")?;
    let ticks = procs::clock_ticks();
    let emu = Emulator::start(EmulatorConfig::default()).await?;
    let (gw_dir, sc_dir, peer_dir, auth_dir) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );

    let gw_port = procs::free_port()?;
    let gateway = procs::start_gateway(&gateway_bin, gw_dir.path(), gw_port, SECRET, TOKEN).await?;
    let gw_base = format!("http://127.0.0.1:{gw_port}");
    let hook = format!("{gw_base}/api/whatsapp/baileys");
    let stored = feed::follow_gateway(&gw_base, TOKEN).await?;

    pair(&emu, sc_dir.path(), SIDECAR_PHONE).await?;
    pair(&emu, peer_dir.path(), PEER_PHONE).await?;
    let sc_port = procs::free_port()?;
    let sidecar = procs::start_sidecar(
        &sidecar_bin,
        &procs::SidecarEnv {
            ws_url: &emu.ws_url(),
            root_key_hex: &emu.root_public_key_hex(),
            state_dir: sc_dir.path(),
            port: sc_port,
            webhook_target: &hook,
            secret: SECRET,
            send_rate_per_min: UNPACED_PER_MIN,
        },
    )
    .await?;
    let sc_pid = procs::pid(&sidecar)?;

    let mut node = Baileys::spawn(&emu.ws_url(), auth_dir.path(), &hook, SECRET)?;
    let qr = node.expect("qr-data: ", STEP).await?;
    emu.scan(&qr, BAILEYS_PHONE)
        .await
        .map_err(|e| anyhow::anyhow!("Baileys pairing: {e}"))?;
    node.expect("open ", STEP).await?;
    let node_pid = node.pid()?;
    eprintln!("both devices connected; settling 3 s before reading idle memory");
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut sc = Figures {
        idle_rss: procs::memory_kib(sc_pid)?.0,
        ..Figures::default()
    };
    let mut bl = Figures {
        idle_rss: procs::memory_kib(node_pid)?.0,
        ..Figures::default()
    };

    // 1. Outbound, P offline.
    let client = reqwest::Client::new();
    let send_url = format!("http://127.0.0.1:{sc_port}/send");
    let peer_jid = format!("{PEER_PHONE}@s.whatsapp.net");
    let mut expected_at_peer = HashSet::new();
    let warm = http_batch(&client, &send_url, PEER_PHONE, 1, 1, "out-s-warm").await?;
    check(warm.failed == 0, "wa-sidecar's first message failed")?;
    expected_at_peer.insert("out-s-warm-0".to_owned());
    let warm = node.batch(&peer_jid, 1, 1, "out-b-warm", STEP).await?;
    check(
        warm.failed == 0,
        &format!("Baileys' first message: {:?}", warm.error),
    )?;
    expected_at_peer.insert("out-b-warm-0".to_owned());
    for &k in &args.concurrency {
        let n = args.messages;
        let tag = format!("out-s-k{k}");
        eprintln!("wa-sidecar: {n} texts, {k} workers");
        let cpu0 = procs::cpu_time(sc_pid, ticks)?;
        let mut b = http_batch(&client, &send_url, PEER_PHONE, n, k, &tag).await?;
        b.cpu = procs::cpu_time(sc_pid, ticks)?.saturating_sub(cpu0);
        expected_at_peer.extend((0..n).map(|i| format!("{tag}-{i}")));
        sc.batches.push((k, b));

        let tag = format!("out-b-k{k}");
        eprintln!("Baileys: {n} texts, {k} workers");
        let cpu0 = procs::cpu_time(node_pid, ticks)?;
        let r = node.batch(&peer_jid, n, k, &tag, DRAIN).await?;
        if let Some(e) = &r.error {
            eprintln!("Baileys batch error: {e}");
        }
        let cpu = procs::cpu_time(node_pid, ticks)?.saturating_sub(cpu0);
        expected_at_peer.extend((0..n).map(|i| format!("{tag}-{i}")));
        bl.batches.push((
            k,
            Batch {
                ok: r.ok,
                failed: r.failed,
                elapsed: Duration::from_secs_f64(r.ms / 1000.0),
                cpu,
            },
        ));
    }

    // P logs in and decrypts everything the emulator queued for it.
    let (peer_hook, at_peer) = feed::peer_recorder().await?;
    let peer_port = procs::free_port()?;
    let peer = procs::start_sidecar(
        &sidecar_bin,
        &procs::SidecarEnv {
            ws_url: &emu.ws_url(),
            root_key_hex: &emu.root_public_key_hex(),
            state_dir: peer_dir.path(),
            port: peer_port,
            webhook_target: &peer_hook,
            secret: SECRET,
            send_rate_per_min: UNPACED_PER_MIN,
        },
    )
    .await?;
    eprintln!("peer: decrypting {} queued texts", expected_at_peer.len());
    let drained = Instant::now();
    at_peer
        .wait_all(&expected_at_peer, DRAIN)
        .await
        .context("the peer did not decrypt every text")?;
    eprintln!(
        "peer decrypted all {} texts in {:.1} s",
        expected_at_peer.len(),
        drained.elapsed().as_secs_f64()
    );

    // 2. Inbound.
    let peer_send = format!("http://127.0.0.1:{peer_port}/send");
    for (phone, tag, pid, figures) in [
        (SIDECAR_PHONE, "in-s", sc_pid, &mut sc),
        (BAILEYS_PHONE, "in-b", node_pid, &mut bl),
    ] {
        eprintln!(
            "inbound to {tag}: {} texts at {}/s",
            args.inbound, args.rate
        );
        let warm = format!("{tag}-warm");
        peer_sends(&client, &peer_send, phone, &warm).await?;
        stored
            .wait_all(&HashSet::from([warm]), STEP)
            .await
            .context("first inbound text not stored")?;
        let cpu0 = procs::cpu_time(pid, ticks)?;
        let sent = open_loop(&client, &peer_send, phone, tag, args.inbound, args.rate).await?;
        let want = sent.iter().map(|s| s.text.clone()).collect();
        stored
            .wait_all(&want, DRAIN)
            .await
            .with_context(|| format!("{tag}: not every text reached the gateway"))?;
        figures.inbound_cpu = procs::cpu_time(pid, ticks)?.saturating_sub(cpu0);
        (figures.inbound, figures.inbound_from_ack) = feed::latencies(&sent, &stored)?;
    }

    for (pid, f) in [(sc_pid, &mut sc), (node_pid, &mut bl)] {
        let (rss, hwm) = procs::memory_kib(pid)?;
        f.after_rss = rss;
        f.peak = hwm;
    }
    report(&args, &sc, &bl);

    procs::stop(peer).await?;
    node.stop().await?;
    procs::stop(sidecar).await?;
    procs::stop(gateway).await?;
    emu.shutdown().await;
    Ok(())
}

fn check(cond: bool, what: &str) -> anyhow::Result<()> {
    if cond { Ok(()) } else { bail!("{what}") }
}

/// `n` texts `<tag>-<i>` through `POST /send` with `k` workers (closed loop).
async fn http_batch(
    client: &reqwest::Client,
    url: &str,
    to: &str,
    n: usize,
    k: usize,
    tag: &str,
) -> anyhow::Result<Batch> {
    let next = Arc::new(AtomicUsize::new(0));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Instant::now();
    let workers: Vec<_> = (0..k)
        .map(|_| {
            let (client, url, to, tag) = (
                client.clone(),
                url.to_owned(),
                to.to_owned(),
                tag.to_owned(),
            );
            let (next, errors) = (next.clone(), errors.clone());
            tokio::spawn(async move {
                let mut ok = 0u64;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return ok;
                    }
                    let text = format!("{tag}-{i}");
                    let body =
                        json!({"to": to, "type": "text", "text": text, "idempotencyKey": text});
                    match send_once(&client, &url, &body).await {
                        Ok(()) => ok += 1,
                        Err(e) => errors.lock().await.push(e.to_string()),
                    }
                }
            })
        })
        .collect();
    let mut ok = 0;
    for w in workers {
        ok += w.await?;
    }
    let elapsed = started.elapsed();
    let errors = errors.lock().await;
    if let Some(first) = errors.first() {
        eprintln!("{tag}: {} failed, first: {first}", errors.len());
    }
    Ok(Batch {
        ok,
        failed: errors.len() as u64,
        elapsed,
        cpu: Duration::ZERO,
    })
}

async fn send_once(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> anyhow::Result<()> {
    let r = client
        .post(url)
        .header(shared::SECRET_HEADER, SECRET)
        .json(body)
        .timeout(STEP)
        .send()
        .await?;
    let status = r.status();
    if status != reqwest::StatusCode::OK {
        bail!("{status}: {}", r.text().await.unwrap_or_default());
    }
    Ok(())
}

/// The peer sends one text (waits for the server's ack).
async fn peer_sends(
    client: &reqwest::Client,
    url: &str,
    to: &str,
    text: &str,
) -> anyhow::Result<()> {
    send_once(
        client,
        url,
        &json!({"to": to, "type": "text", "text": text, "idempotencyKey": text}),
    )
    .await
}

/// `m` texts `<tag>-<i>` from the peer at `rate` per second, each started on schedule whatever
/// the others do; returns each text with the moment its send began and the moment the server
/// acknowledged it to the peer.
async fn open_loop(
    client: &reqwest::Client,
    url: &str,
    to: &str,
    tag: &str,
    m: usize,
    rate: f64,
) -> anyhow::Result<Vec<feed::Sent>> {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(m);
    for i in 0..m {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
        let text = format!("{tag}-{i}");
        let (client, url, to) = (client.clone(), url.to_owned(), to.to_owned());
        tasks.push(tokio::spawn(async move {
            let at = Instant::now();
            peer_sends(&client, &url, &to, &text).await?;
            anyhow::Ok(feed::Sent {
                text,
                at,
                acked: Instant::now(),
            })
        }));
    }
    let mut sent = Vec::with_capacity(m);
    for t in tasks {
        sent.push(t.await??);
    }
    Ok(sent)
}
