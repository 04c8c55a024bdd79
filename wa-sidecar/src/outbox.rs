//! The durable inbound outbox and its forwarder.
//!
//! The driver turns every received message ([`inbound_body`]) and every receipt for one of our
//! messages ([`receipt_bodies`]) into a JSON body and appends it to the sled `outbox` tree
//! under a strictly increasing key ([`Outbox::push`]); the driver flushes sled before the
//! WhatsApp receipt/ack for that stanza is sent, so a message the server considers delivered
//! is always on disk.
//!
//! [`Forwarder::run`] POSTs the entries, oldest first, one at a time (so in order per chat),
//! to `BAILEYS_WEBHOOK_TARGET` with `X-BAILEYS-SECRET`, `X-BAILEYS-TIMESTAMP` and
//! `X-BAILEYS-SIGNATURE` (see `shared::signature`). A 2xx deletes the entry. A network error,
//! 5xx, 408 or 429 is retried with exponential backoff (1 s doubling, capped at 60 s, with
//! ±25 % jitter). Any other 4xx is a permanent refusal: the entry is moved to the
//! `dead_letter` tree with a warning, so that one malformed entry cannot block every later
//! message forever. Entries are read from sled one at a time (bounded memory).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Notify, watch};
use wa_binary::Jid;
use wa_core::messaging::{ContentKind, Incoming, ReceiptEvent, ReceiptKind};

use crate::config::Secret;
use crate::store::{DEAD_LETTER_TREE, OUTBOX_TREE, Store, StoreError};

/// First retry delay.
pub const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// Timeout of one POST.
pub const POST_TIMEOUT: Duration = Duration::from_secs(15);

/// Appends bodies to the outbox and wakes the forwarder. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    tree: sled::Tree,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("backlog", &self.tree.len())
            .finish()
    }
}

impl Outbox {
    /// The outbox of `store`.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Outbox {
            tree: store.tree(OUTBOX_TREE)?,
            store: store.clone(),
            wake: Arc::default(),
        })
    }

    /// Appends `body` (not flushed: the caller flushes before acknowledging anything).
    pub fn push(&self, body: &[u8]) -> Result<(), StoreError> {
        let key = self.store.next_id()?.to_be_bytes();
        self.tree
            .insert(key, body)
            .map_err(|e| self.store.sled_err(e))?;
        self.wake.notify_one();
        Ok(())
    }

    /// Entries waiting.
    pub fn backlog(&self) -> u64 {
        self.tree.len() as u64
    }
}

fn bare(jid: &Jid) -> String {
    format!("{}@{}", jid.user, jid.server)
}

/// The contract body (`shared::InboundMessage`) for a received message. `None` for copies of
/// our own messages sent from another of our devices (they are not inbound).
pub fn inbound_body(msg: &Incoming, now_secs: i64) -> Option<shared::InboundMessage> {
    if msg.from_me {
        return None;
    }
    let remote_jid = bare(&msg.chat);
    let alt = match msg.chat.server.as_str() {
        "lid" => msg.sender_pn.as_ref(),
        "s.whatsapp.net" => msg.sender_lid.as_ref(),
        _ => None,
    };
    let remote_jid_alt = alt.map(bare).filter(|a| *a != remote_jid);
    let kind = match msg.kind {
        ContentKind::Text => "text",
        ContentKind::Media => "media",
        ContentKind::Other => "other",
    };
    let timestamp = match i64::try_from(msg.timestamp) {
        Ok(t) if t > 0 => t,
        _ => now_secs,
    };
    Some(shared::InboundMessage {
        remote_jid,
        message_id: msg.id.clone(),
        timestamp,
        kind: kind.to_owned(),
        text: msg.text.clone(),
        media: msg.media.as_ref().map(|m| shared::InboundMedia {
            mimetype: m
                .mimetype
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            size: m.file_length.unwrap_or(0),
            url: m.url.clone(),
        }),
        push_name: msg.push_name.clone(),
        remote_jid_alt,
    })
}

/// One `shared::ReceiptEvent` per message id for delivered/read/played receipts from a peer;
/// nothing for other kinds (retry, our own devices' `sender` receipts).
pub fn receipt_bodies(ev: &ReceiptEvent, now_secs: i64) -> Vec<shared::ReceiptEvent> {
    let status = match ev.kind {
        ReceiptKind::Delivered => "delivered",
        ReceiptKind::Read => "read",
        ReceiptKind::Played => "played",
        _ => return Vec::new(),
    };
    let timestamp = ev
        .timestamp
        .and_then(|t| i64::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(now_secs);
    ev.ids
        .iter()
        .map(|id| shared::ReceiptEvent {
            event: shared::ReceiptEvent::EVENT.to_owned(),
            remote_jid: bare(&ev.from),
            message_id: id.clone(),
            status: status.to_owned(),
            timestamp,
        })
        .collect()
}

/// What the target said about one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delete.
    Accepted,
    /// Network error, 5xx, 408, 429: retry later.
    Retry(String),
    /// Any other 4xx (or 1xx/3xx): dead-letter.
    Refused(u16),
}

/// Classifies an HTTP status.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Accepted,
        408 | 429 | 500..=599 => Verdict::Retry(format!("HTTP {status}")),
        _ => Verdict::Refused(status),
    }
}

/// Delay before retry number `attempt` (1-based): 1 s doubling to 60 s, ±25 % jitter.
pub fn retry_delay(attempt: u32, rng: &mut impl Rng) -> Duration {
    let base = RETRY_INITIAL
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(RETRY_MAX);
    base.mul_f64(rng.gen_range(0.75..1.25)).min(RETRY_MAX)
}

/// POSTs the outbox to the webhook target. See the module docs.
pub struct Forwarder {
    outbox: Outbox,
    dead: sled::Tree,
    target: String,
    secret: Secret,
    client: reqwest::Client,
}

impl Forwarder {
    /// A forwarder for `outbox` to `target`, signing with `secret`.
    pub fn new(outbox: Outbox, target: String, secret: Secret) -> Result<Self, StoreError> {
        let dead = outbox.store.tree(DEAD_LETTER_TREE)?;
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Ok(Forwarder {
            outbox,
            dead,
            target,
            secret,
            client,
        })
    }

    async fn post(&self, body: &[u8]) -> Verdict {
        let ts = (crate::driver::now_ms() / 1000) as i64;
        let sig = shared::signature::sign(self.secret.expose().as_bytes(), ts, body);
        let resp = self
            .client
            .post(&self.target)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(shared::SECRET_HEADER, self.secret.expose())
            .header(shared::TIMESTAMP_HEADER, ts.to_string())
            .header(shared::SIGNATURE_HEADER, sig)
            .body(body.to_vec())
            .send()
            .await;
        match resp {
            Ok(r) => verdict(r.status().as_u16()),
            Err(e) => Verdict::Retry(format!("request failed: {e}")),
        }
    }

    /// Forwards until `shutdown` turns true. Storage errors are logged and retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut attempt = 0u32;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let first = match self.outbox.tree.first() {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(error = %e, "outbox unreadable; retrying");
                    None
                }
            };
            let Some((key, body)) = first else {
                let wake = self.outbox.wake.notified();
                tokio::select! {
                    () = wake => {}
                    // the notify may have fired between `first()` and `notified()`
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                continue;
            };
            match self.post(&body).await {
                Verdict::Accepted => {
                    attempt = 0;
                    if let Err(e) = self.remove(&key, None) {
                        tracing::error!(error = %e, "cannot delete a delivered outbox entry");
                    }
                    tracing::debug!(backlog = self.outbox.backlog(), "forwarded");
                }
                Verdict::Refused(status) => {
                    attempt = 0;
                    tracing::warn!(
                        status,
                        backlog = self.outbox.backlog(),
                        "webhook target refused an entry for good; moved to dead_letter"
                    );
                    if let Err(e) = self.remove(&key, Some(&body)) {
                        tracing::error!(error = %e, "cannot move an outbox entry to dead_letter");
                    }
                }
                Verdict::Retry(reason) => {
                    attempt = attempt.saturating_add(1);
                    let delay = retry_delay(attempt, &mut rand::thread_rng());
                    tracing::warn!(
                        %reason,
                        attempt,
                        backlog = self.outbox.backlog(),
                        delay_ms = delay.as_millis() as u64,
                        "webhook delivery failed; retrying"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                }
            }
        }
    }

    fn remove(&self, key: &[u8], dead: Option<&[u8]>) -> Result<(), StoreError> {
        let store = &self.outbox.store;
        if let Some(body) = dead {
            self.dead.insert(key, body).map_err(|e| store.sled_err(e))?;
        }
        self.outbox
            .tree
            .remove(key)
            .map_err(|e| store.sled_err(e))?;
        store.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert_eq!(verdict(204), Verdict::Accepted);
        assert!(matches!(verdict(503), Verdict::Retry(_)));
        assert!(matches!(verdict(429), Verdict::Retry(_)));
        assert!(matches!(verdict(408), Verdict::Retry(_)));
        assert_eq!(verdict(400), Verdict::Refused(400));
        assert_eq!(verdict(401), Verdict::Refused(401));
    }

    #[test]
    fn retry_delay_grows_and_is_capped() {
        let mut rng = rand::thread_rng();
        for _ in 0..50 {
            let d1 = retry_delay(1, &mut rng);
            assert!(d1 >= Duration::from_millis(750) && d1 <= Duration::from_millis(1250));
            let d4 = retry_delay(4, &mut rng);
            assert!(d4 >= Duration::from_secs(6) && d4 <= Duration::from_secs(10));
            assert!(retry_delay(30, &mut rng) <= RETRY_MAX);
        }
    }

    #[test]
    fn outbox_keeps_order_across_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let store = Store::open(tmp.path()).unwrap();
            let ob = Outbox::open(&store).unwrap();
            ob.push(b"1").unwrap();
            ob.push(b"2").unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(tmp.path()).unwrap();
        let ob = Outbox::open(&store).unwrap();
        ob.push(b"3").unwrap();
        let bodies: Vec<_> = ob
            .tree
            .iter()
            .values()
            .map(|v| v.unwrap().to_vec())
            .collect();
        assert_eq!(bodies, vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
        assert_eq!(store.outbox_len(), 3);
    }

    /// A target that accepts everything except bodies containing `bad` (400), recording what
    /// it accepted after checking the signature.
    async fn target() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
        use axum::http::{HeaderMap, StatusCode};
        let seen: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Default::default();
        let rec = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let rec = rec.clone();
                async move {
                    let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_owned();
                    let now = (crate::driver::now_ms() / 1000) as i64;
                    let signed = shared::signature::verify(
                        b"k",
                        &h(shared::TIMESTAMP_HEADER),
                        &h(shared::SIGNATURE_HEADER),
                        &body,
                        now,
                    );
                    if signed.is_err() || h(shared::SECRET_HEADER) != "k" {
                        return StatusCode::FORBIDDEN;
                    }
                    if body.windows(3).any(|w| w == b"bad") {
                        return StatusCode::BAD_REQUEST;
                    }
                    rec.lock().unwrap().push(body.to_vec());
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hook"), seen)
    }

    #[tokio::test]
    async fn permanent_refusal_goes_to_dead_letter_and_does_not_block_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let ob = Outbox::open(&store).unwrap();
        for body in [&b"{\"n\":1}"[..], b"{\"n\":\"bad\"}", b"{\"n\":3}"] {
            ob.push(body).unwrap();
        }
        let (url, seen) = target().await;
        let fwd = Forwarder::new(ob.clone(), url, Secret::new("k")).unwrap();
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(fwd.run(stop));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while ob.backlog() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "outbox never drained"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, vec![b"{\"n\":1}".to_vec(), b"{\"n\":3}".to_vec()]);
        let dead = store.tree(DEAD_LETTER_TREE).unwrap();
        let dead: Vec<_> = dead.iter().values().map(|v| v.unwrap().to_vec()).collect();
        assert_eq!(dead, vec![b"{\"n\":\"bad\"}".to_vec()]);
    }
}
