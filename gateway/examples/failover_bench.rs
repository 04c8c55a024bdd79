//! Outbound figures, printed:
//! - failover latency: the sidecar is killed, then the next message is sent; time from the
//!   `POST /api/messages` to the Twilio emulator accepting it (p50/p99 over 20 trials);
//! - outbox throughput to the Twilio emulator (messages accepted per second, from the first
//!   API call to the last acceptance) on SQLite, and on PostgreSQL when `TEST_DATABASE_URL`
//!   is set (a fresh database is created and dropped).
//!
//! `cargo run --release -p gateway --example failover_bench [-- --trials 20 --messages 500]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/sidecar_stub.rs"]
#[allow(dead_code, unreachable_pub)]
mod sidecar_stub;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::Secret;
use gateway::config::{Config, TwilioConfig};
use serde_json::json;
use sidecar_stub::SidecarStub;
use sqlx::Connection;
use twilio_emulator::{EmulatorConfig, InboundSpec, TwilioEmulator};

const PUBLIC: &str = "https://gw.example.com";
const FROM: &str = "whatsapp:+14155238886";
const SECRET: &str = "bench-sidecar-secret";
const TOKEN: &str = "bench-api-token-0123456789";
const FAILOVER_SID: &str = "HXbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(dir: &std::path::Path, tw: &TwilioEmulator, stub: Option<&SidecarStub>) -> Config {
    let mut c = Config::local(dir);
    c.twilio = Some(TwilioConfig {
        public_base_url: PUBLIC.into(),
        auth_token: Secret::new(tw.auth_token()),
        account_sid: Some(tw.account_sid().into()),
        wa_from: Some(FROM.into()),
    });
    c.twilio_api_base = url::Url::parse(tw.base_url()).unwrap();
    c.api_token = Some(Secret::new(TOKEN));
    c.baileys_webhook_secret = Some(Secret::new(SECRET));
    c.failover_content_sid = Some(FAILOVER_SID.into());
    c.twilio_send_rate = 10_000;
    if let Some(s) = stub {
        c.baileys_outbound_url = Some(url::Url::parse(&s.send_url()).unwrap());
        c.baileys_health_url = Some(url::Url::parse(&format!("http://{}/health", s.addr)).unwrap());
    }
    c.health_check_interval = Duration::from_millis(200);
    c
}

async fn emulator(gateway_base: Option<&str>) -> TwilioEmulator {
    let tw = TwilioEmulator::start(EmulatorConfig {
        callback_step: Duration::from_millis(5),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    tw.add_template(FAILOVER_SID, "Hello {{1}}: {{2}}").unwrap();
    if let Some(b) = gateway_base {
        point(&tw, b);
    }
    tw
}

fn point(tw: &TwilioEmulator, base: &str) {
    let b = base.to_owned();
    tw.configure(move |s| {
        s.inbound_webhook = Some(format!("{b}/api/whatsapp/twilio"));
        s.public_url = Some(format!("{PUBLIC}/api/whatsapp/twilio"));
        s.url_rewrites.insert(PUBLIC.into(), b.clone());
    });
}

async fn post(client: &reqwest::Client, base: &str, body: serde_json::Value) -> u16 {
    client
        .post(format!("{base}/api/messages"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn failover_latency(trials: usize) {
    let dir = tempfile::tempdir().unwrap();
    let tw = emulator(None).await;
    let mut stub = SidecarStub::start(SECRET).await;
    let app = gateway::build(config(dir.path(), &tw, Some(&stub)))
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    point(&tw, &base);
    let client = reqwest::Client::new();
    // The customer writes to the sidecar number (window open there, not on Twilio's).
    let body = json!({"remoteJid": "972504445566@s.whatsapp.net", "messageId": "3EB0BENCH",
        "timestamp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        "type": "text", "text": "hi", "pushName": "Bench"});
    let r = client
        .post(format!("{base}/api/whatsapp/baileys"))
        .header("X-BAILEYS-SECRET", SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let st = app.state().clone();
    let mut samples = Vec::with_capacity(trials);
    for i in 0..trials {
        // Sidecar back and healthy (two checks), then killed.
        stub.restart().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !st.outbound.health.is_up() {
            assert!(Instant::now() < deadline, "sidecar never came back UP");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stub.kill().await;
        let before = tw.messages().len();
        let t0 = Instant::now();
        let status = post(
            &client,
            &base,
            json!({"to": "+972504445566", "text": format!("trial {i}"), "idempotencyKey": format!("trial-{i}")}),
        )
        .await;
        assert_eq!(status, 202);
        while tw.messages().len() == before {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "failover never happened"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        samples.push(t0.elapsed());
    }
    // Failovers decided by a failed send (the rest were found DOWN by the health monitor first).
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let via_send_path = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gateway_failovers_total "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    samples.sort();
    println!(
        "failover latency (sidecar killed → next message accepted by the Twilio emulator), {trials} trials: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
    );
    println!(
        "  ({via_send_path} of {trials} trials failed over inside the send attempt; the rest were \
         routed to Twilio up front because the health monitor had already seen the sidecar DOWN)"
    );
    app.shutdown().await.unwrap();
}

async fn throughput(label: &str, database_url: Option<String>, messages: usize) {
    let dir = tempfile::tempdir().unwrap();
    let tw = emulator(None).await;
    let mut c = config(dir.path(), &tw, None);
    if let Some(u) = database_url {
        c.database_url = Secret::new(u);
    }
    let app = gateway::build(c).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    point(&tw, &base);
    tw.customer_sends(InboundSpec {
        from: "+972505556677".into(),
        to: FROM.into(),
        body: "hi".into(),
        profile_name: None,
        media: Vec::new(),
        deliver: true,
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .state()
        .store
        .list_contacts(None, 1)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "inbound not stored");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t0 = Instant::now();
    let client = Arc::new(client);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (client, base) = (client.clone(), base.clone());
        tasks.spawn(async move {
            let mut i = w;
            while i < messages {
                let s = post(&client, &base, json!({"to": "+972505556677", "text": format!("tp {i}"), "idempotencyKey": format!("tp-{i}")})).await;
                assert_eq!(s, 202);
                i += 8;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let enqueued = t0.elapsed();
    while tw.messages().len() < messages {
        assert!(t0.elapsed() < Duration::from_secs(600), "outbox stalled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let total = t0.elapsed();
    println!(
        "outbox throughput ({label}): {messages} messages accepted by the Twilio emulator in {:.2} s = {:.0} msg/s \
         (API enqueue alone {:.0} msg/s; TWILIO_SEND_RATE=10000)",
        total.as_secs_f64(),
        messages as f64 / total.as_secs_f64(),
        messages as f64 / enqueued.as_secs_f64(),
    );
    app.shutdown().await.unwrap();
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let after = base.find("://").map_or(0, |i| i + 3);
    let server = match base[after..].find('/') {
        Some(slash) => &base[..after + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

#[tokio::main]
async fn main() {
    let trials = arg("--trials", 20);
    let messages = arg("--messages", 500);
    failover_latency(trials).await;
    throughput("SQLite", None, messages).await;
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let name = format!("ob_bench_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .unwrap();
            throughput("PostgreSQL", Some(with_database(&url, &name)), messages).await;
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        _ => println!("outbox throughput (PostgreSQL): skipped, TEST_DATABASE_URL not set"),
    }
}
