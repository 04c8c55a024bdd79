//! Throughput of `record_inbound` (the webhook's write path) under concurrency.
//!
//! ```text
//! cargo run --release -p crm-store --example inbound_bench -- [DATABASE_URL] [MESSAGES] [CONCURRENCY]
//! ```
//! Without a URL it uses a fresh SQLite file in a temporary directory. With a PostgreSQL URL it
//! writes into that database (use a scratch one). Each message comes from one of 50 contacts;
//! every tenth is delivered twice (a provider retry), so duplicates are measured too.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use crm_store::{
    Identity, IdentityKind, InboundOutcome, NewInboundMessage, Provider, RawWebhook, Store,
};

fn message(run: u128, i: u64) -> NewInboundMessage {
    let contact = i % 50;
    let at = 1_767_225_600_000 + i64::try_from(i).unwrap_or(0);
    NewInboundMessage {
        provider: Provider::Twilio,
        business_number: "whatsapp:+14155238886".into(),
        provider_message_id: format!("SM{run}-{i}"),
        identities: vec![Identity {
            kind: IdentityKind::E164,
            value: format!("+9725{run}{contact:07}"),
        }],
        display_name: Some(format!("Contact {contact}")),
        kind: "text".into(),
        body: Some("שלום, I would like to order".into()),
        attributes: serde_json::json!({}),
        provider_timestamp: Some(at),
        media: Vec::new(),
        raw: RawWebhook {
            provider: Provider::Twilio,
            route: "/webhooks/twilio".into(),
            content_type: "application/x-www-form-urlencoded".into(),
            body: vec![b'x'; 600],
            idempotency_token: None,
            received_at: at,
        },
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    let url = match args.first().filter(|u| !u.is_empty()) {
        Some(u) => u.clone(),
        None => format!("sqlite:{}", dir.path().join("bench.db").display()),
    };
    let total: u64 = args
        .get(1)
        .map_or(Ok(5000), |s| s.parse())
        .context("MESSAGES")?;
    let concurrency: u64 = args
        .get(2)
        .map_or(Ok(16), |s| s.parse())
        .context("CONCURRENCY")?;
    let store = crm_store::open(&url).await?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        % 100_000;

    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let store: Arc<dyn Store> = store.clone();
            tokio::spawn(async move {
                let (mut stored, mut dups) = (0u64, 0u64);
                let mut i = w;
                while i < total {
                    let msg = message(run, i);
                    let deliveries = if i % 10 == 0 { 2 } else { 1 };
                    for _ in 0..deliveries {
                        match store.record_inbound(&msg).await? {
                            InboundOutcome::Stored { .. } => stored += 1,
                            InboundOutcome::Duplicate => dups += 1,
                        }
                    }
                    i += concurrency;
                }
                anyhow::Ok((stored, dups))
            })
        })
        .collect();
    let (mut stored, mut dups) = (0, 0);
    for w in workers {
        let (s, d) = w.await??;
        stored += s;
        dups += d;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}: {stored} stored + {dups} duplicates in {secs:.2} s = {:.0} deliveries/s (concurrency {concurrency})",
        url.split(':').next().unwrap_or("?"),
        (stored + dups) as f64 / secs
    );
    store.close().await;
    Ok(())
}
