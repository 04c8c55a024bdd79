//! Crash safety: the gateway is killed with SIGKILL while webhooks stream in; after a restart,
//! every webhook that got a 204 is in the store exactly once, and replaying all of them stores
//! nothing new. Runs the real binary as a child process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::process::{GatewayProcess, wait_ready};

const SECRET: &str = "crash-test-secret";
const API_TOKEN: &str = "crash-test-api-token";

fn body(i: u32) -> String {
    serde_json::json!({
        "remoteJid": format!("9725{:08}@s.whatsapp.net", 10_000_000 + i % 7),
        "messageId": format!("3EB0CRASH{i:08}"),
        "timestamp": 1_700_000_000 + i64::from(i),
        "type": "text",
        "text": format!("הודעה {i}"),
    })
    .to_string()
}

async fn post(client: &reqwest::Client, base: &str, i: u32) -> Option<u16> {
    client
        .post(format!("{base}/api/whatsapp/baileys"))
        .header("Content-Type", "application/json")
        .header("X-BAILEYS-SECRET", SECRET)
        .body(body(i))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Provider message ids in every timeline, with their counts.
async fn stored_ids(client: &reqwest::Client, base: &str) -> HashMap<String, usize> {
    let get = |path: String| {
        let client = client.clone();
        async move {
            let r = client
                .get(path)
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "API answered {}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let list = |v: serde_json::Value| match v {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => o
            .into_iter()
            .find_map(|(_, x)| x.as_array().cloned())
            .unwrap_or_default(),
        _ => vec![],
    };
    let mut counts = HashMap::new();
    let contacts = list(get(format!("{base}/api/contacts?limit=1000")).await);
    for c in contacts {
        let id = c["id"].as_i64().unwrap();
        let mut before: Option<i64> = None;
        loop {
            let q = match before {
                Some(b) => format!("{base}/api/contacts/{id}/messages?limit=500&before={b}"),
                None => format!("{base}/api/contacts/{id}/messages?limit=500"),
            };
            let msgs = list(get(q).await);
            if msgs.is_empty() {
                break;
            }
            for m in msgs {
                before = m["id"].as_i64();
                let p = m["provider_message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                *counts.entry(p).or_insert(0) += 1;
            }
        }
    }
    counts
}

fn acked_count(counts: &HashMap<String, usize>, i: u32) -> usize {
    let id = format!("3EB0CRASH{i:08}");
    counts
        .iter()
        .filter(|(k, _)| k.ends_with(&id))
        .map(|(_, n)| *n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_nothing_that_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let env = [
        ("BAILEYS_WEBHOOK_SECRET", SECRET.to_owned()),
        ("GATEWAY_API_TOKEN", API_TOKEN.to_owned()),
    ];
    let gw = GatewayProcess::spawn(dir.path(), port, &env);
    wait_ready(&client, &base).await;

    // 8 senders stream webhooks; the gateway is killed once at least 200 have been acknowledged.
    let acked = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..8u32 {
        let (client, base, acked, stop) =
            (client.clone(), base.clone(), acked.clone(), stop.clone());
        senders.spawn(async move {
            let mut i = s;
            while !stop.load(Ordering::Relaxed) {
                if post(&client, &base, i).await == Some(204) {
                    acked.lock().unwrap().push(i);
                }
                i += 8;
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 200 {
        assert!(
            Instant::now() < deadline,
            "gateway acknowledged too few webhooks"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(gw); // SIGKILL (std's Child::kill) mid-stream
    stop.store(true, Ordering::Relaxed);
    while senders.join_next().await.is_some() {}
    let acked: Vec<u32> = acked.lock().unwrap().clone();

    // Restart on the same data dir: every acknowledged webhook is there exactly once.
    let _gw = GatewayProcess::spawn(dir.path(), port, &env);
    wait_ready(&client, &base).await;
    let counts = stored_ids(&client, &base).await;
    for &i in &acked {
        assert_eq!(
            acked_count(&counts, i),
            1,
            "acknowledged message {i} stored {} times",
            acked_count(&counts, i)
        );
    }

    // Replays of everything acknowledged: all 204, nothing new stored.
    for &i in &acked {
        assert_eq!(post(&client, &base, i).await, Some(204), "replay of {i}");
    }
    let after = stored_ids(&client, &base).await;
    assert_eq!(
        after.values().sum::<usize>(),
        counts.values().sum::<usize>()
    );
}
