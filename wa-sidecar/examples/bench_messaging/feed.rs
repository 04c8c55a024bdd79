//! Observers: the gateway's live event feed (when each inbound text was stored) and a webhook
//! recorder for the peer device (which texts it decrypted).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Texts seen, with when they were first seen; waiters are woken on every new one.
#[derive(Clone, Default)]
pub(crate) struct Seen {
    at: Arc<Mutex<HashMap<String, Instant>>>,
    changed: Arc<Notify>,
}

impl Seen {
    fn record(&self, text: String, now: Instant) {
        if let Ok(mut at) = self.at.lock() {
            at.entry(text).or_insert(now);
        }
        self.changed.notify_waiters();
    }

    /// When `text` was first seen.
    pub(crate) fn when(&self, text: &str) -> Option<Instant> {
        self.at.lock().ok()?.get(text).copied()
    }

    /// Waits until every text in `want` was seen; fails at the deadline naming how many are
    /// missing.
    pub(crate) async fn wait_all(
        &self,
        want: &HashSet<String>,
        within: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let missing = {
                let at = self.at.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                want.iter().filter(|t| !at.contains_key(*t)).count()
            };
            if missing == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                bail!(
                    "{missing} of {} texts not seen within {within:?}",
                    want.len()
                );
            }
        }
    }
}

/// Follows `GET /api/events/stream` and records the `body` of every `wa.inbound` event.
pub(crate) async fn follow_gateway(base: &str, token: &str) -> anyhow::Result<Seen> {
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/events/stream"))
        .bearer_auth(token)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("event stream: {}", resp.status());
    }
    let seen = Seen::default();
    let out = seen.clone();
    let mut stream = resp.bytes_stream();
    tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            let now = Instant::now();
            buf.extend_from_slice(&chunk);
            while let Some(end) = find_blank_line(&buf) {
                let block: Vec<u8> = buf.drain(..end + 2).collect();
                if let Some(body) = inbound_body(&block) {
                    out.record(body, now);
                }
            }
        }
    });
    Ok(seen)
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n")
}

/// The stored text of one SSE block, if it is a `wa.inbound` event.
fn inbound_body(block: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(block).ok()?;
    let mut inbound = false;
    let mut data = String::new();
    for line in text.lines() {
        if let Some(kind) = line.strip_prefix("event:") {
            inbound = kind.trim() == "wa.inbound";
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.trim_start());
        }
    }
    if !inbound {
        return None;
    }
    let event: serde_json::Value = serde_json::from_str(&data).ok()?;
    event["payload"]["body"].as_str().map(str::to_owned)
}

/// A webhook target for the peer's sidecar: records the text of every message it forwards.
pub(crate) async fn peer_recorder() -> anyhow::Result<(String, Seen)> {
    async fn hook(State(seen): State<Seen>, body: Bytes) -> StatusCode {
        let now = Instant::now();
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) => {
                if let Some(text) = v["text"].as_str() {
                    seen.record(text.to_owned(), now);
                }
                StatusCode::NO_CONTENT
            }
            Err(_) => StatusCode::BAD_REQUEST,
        }
    }
    let seen = Seen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, seen))
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One text the peer sent: when its `/send` began and when the server acknowledged it.
pub(crate) struct Sent {
    pub(crate) text: String,
    pub(crate) at: Instant,
    pub(crate) acked: Instant,
}

/// Latencies, each sorted: from each send's start, and from the server's ack of it to the
/// peer, to when `seen` saw its text; errors if one is missing. The slowest few are printed to stderr with when they were sent and how long the
/// peer's own send took (a stall shows as a run of neighbours).
pub(crate) fn latencies(
    sent: &[Sent],
    seen: &Seen,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let start = sent.iter().map(|s| s.at).min();
    let mut out = sent
        .iter()
        .map(|s| {
            let t1 = seen
                .when(&s.text)
                .with_context(|| format!("{} never stored", s.text))?;
            Ok((t1.saturating_duration_since(s.at), t1, s))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    out.sort_by_key(|(d, _, _)| *d);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (d, _, s) in out.iter().rev().take(5) {
        let at = start.map_or(Duration::ZERO, |t| s.at.saturating_duration_since(t));
        eprintln!(
            "  slow: {} sent at +{:.2} s took {:.1} ms (the peer's own send: {:.1} ms)",
            s.text,
            at.as_secs_f64(),
            ms(*d),
            ms(s.acked.saturating_duration_since(s.at))
        );
    }
    let mut from_ack: Vec<Duration> = out
        .iter()
        .map(|(_, t1, s)| t1.saturating_duration_since(s.acked))
        .collect();
    from_ack.sort();
    Ok((out.into_iter().map(|(d, _, _)| d).collect(), from_ack))
}
