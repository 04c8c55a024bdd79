//! The outbox forwarder: POSTs [`crate::outbox`] entries to the webhook target, in order per
//! chat, without letting one chat's trouble hold back the others.
//!
//! Entries are scanned oldest first, straight from sled (one at a time: memory stays bounded
//! whatever the backlog). What the target answers decides what happens next ([`verdict`]):
//!
//! * **2xx**: the entry is deleted.
//! * **The target as a whole is in trouble** (no connection, timeout, 408/425/429/502/503/504,
//!   or 401/403/404/405/407, which mean a wrong `BAILEYS_WEBHOOK_TARGET` or secret): every
//!   chat waits. The whole outbox backs off (1 s doubling to 60 s, ±25 % jitter) and the scan
//!   starts again from the oldest entry, so a gateway that is down for an hour costs one
//!   request per minute, not one per chat.
//! * **This entry is in trouble** (any other 5xx): only its chat waits, with its own backoff;
//!   later entries of that chat are skipped until the failed one has gone through, and other
//!   chats go on. When [`ESCALATE_AFTER`] different chats fail in a row, or more than
//!   [`MAX_STALLED_CHATS`] chats are waiting, the trouble is treated as the target's.
//! * **Any other 4xx** (or 1xx/3xx): a permanent refusal; the entry is moved to the
//!   `dead_letter` tree with a warning, and its chat goes on with the next entry.
//!
//! A stalled chat is retried only at the start of a scan from the oldest entry, so the first
//! entry of that chat the scan meets is its oldest: order per chat holds across retries.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Bound;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::Secret;
use crate::outbox::Outbox;
use crate::store::{DEAD_LETTER_TREE, StoreError};

/// First retry delay.
pub const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// Timeout of one POST.
pub const POST_TIMEOUT: Duration = Duration::from_secs(15);
/// This many different chats failing in a row, with no success between, is the target's trouble.
pub const ESCALATE_AFTER: u32 = 3;
/// At most this many chats wait on their own backoff; beyond, the whole outbox backs off.
pub const MAX_STALLED_CHATS: usize = 256;
/// How often the outbox is polled for entries written through another handle.
const POLL: Duration = Duration::from_secs(1);

/// Who is in trouble when a delivery must be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The target (down, overloaded, misconfigured): every chat waits.
    Target,
    /// This entry: only its chat waits.
    Entry,
}

/// What the target said about one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delete.
    Accepted,
    /// Retry later; `scope` says who waits. `status` is the HTTP status, if one came back.
    Retry {
        reason: String,
        status: Option<u16>,
        scope: Scope,
    },
    /// Refused for good: dead-letter.
    Refused(u16),
}

/// Classifies an HTTP status. See the module docs.
pub fn verdict(status: u16) -> Verdict {
    let retry = |scope| Verdict::Retry {
        reason: format!("HTTP {status}"),
        status: Some(status),
        scope,
    };
    match status {
        200..=299 => Verdict::Accepted,
        401 | 403 | 404 | 405 | 407 | 408 | 425 | 429 | 502 | 503 | 504 => retry(Scope::Target),
        500..=599 => retry(Scope::Entry),
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

/// Where entries are delivered.
pub trait Target {
    /// Delivers one body.
    fn deliver(&self, body: &[u8]) -> impl Future<Output = Verdict> + Send;
}

/// The webhook target: `POST` with `X-BAILEYS-SECRET`, `X-BAILEYS-TIMESTAMP` and
/// `X-BAILEYS-SIGNATURE` (see `shared::signature`).
pub struct Webhook {
    url: String,
    secret: Secret,
    client: reqwest::Client,
}

impl Webhook {
    /// A webhook target at `url`, signing with `secret`.
    pub fn new(url: String, secret: Secret) -> Self {
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Webhook {
            url,
            secret,
            client,
        }
    }
}

impl Target for Webhook {
    async fn deliver(&self, body: &[u8]) -> Verdict {
        let ts = (crate::driver::now_ms() / 1000) as i64;
        let sig = shared::signature::sign(self.secret.expose().as_bytes(), ts, body);
        let resp = self
            .client
            .post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(shared::SECRET_HEADER, self.secret.expose())
            .header(shared::TIMESTAMP_HEADER, ts.to_string())
            .header(shared::SIGNATURE_HEADER, sig)
            .body(body.to_vec())
            .send()
            .await;
        match resp {
            Ok(r) => verdict(r.status().as_u16()),
            Err(e) => Verdict::Retry {
                reason: format!("request failed: {e}"),
                status: None,
                scope: Scope::Target,
            },
        }
    }
}

/// The chat an entry belongs to: its `remoteJid` (an unreadable body forms a chat of its own).
fn chat_of(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Chat {
        #[serde(rename = "remoteJid")]
        remote_jid: Option<String>,
    }
    serde_json::from_slice::<Chat>(body)
        .ok()
        .and_then(|c| c.remote_jid)
        .unwrap_or_default()
}

/// A chat whose oldest entry must be retried.
struct Stalled {
    attempt: u32,
    until: Instant,
    /// Set at the start of a scan from the oldest entry once `until` has passed.
    ready: bool,
}

/// Why a scan stopped.
enum ScanEnd {
    /// Every entry was seen (or skipped).
    Done,
    /// The target is in trouble: wait this long, then scan from the oldest entry.
    BackOff(Duration),
    /// Shutdown was requested.
    Stop,
}

/// Forwards the outbox to a [`Target`]. See the module docs.
pub struct Forwarder<T = Webhook> {
    outbox: Outbox,
    dead: sled::Tree,
    target: T,
    stalled: HashMap<String, Stalled>,
    /// Consecutive target-wide failures (for the outbox's own backoff).
    target_attempt: u32,
    /// Different chats that failed in a row with no success between (at most
    /// [`ESCALATE_AFTER`]).
    failing: Vec<String>,
}

impl Forwarder<Webhook> {
    /// A forwarder for `outbox` to the webhook at `url`, signing with `secret`.
    pub fn new(outbox: Outbox, url: String, secret: Secret) -> Result<Self, StoreError> {
        Self::with_target(outbox, Webhook::new(url, secret))
    }
}

impl<T: Target> Forwarder<T> {
    /// A forwarder for `outbox` to `target`.
    pub fn with_target(outbox: Outbox, target: T) -> Result<Self, StoreError> {
        Ok(Forwarder {
            dead: outbox.store().tree(DEAD_LETTER_TREE)?,
            outbox,
            target,
            stalled: HashMap::new(),
            target_attempt: 0,
            failing: Vec::new(),
        })
    }

    /// Forwards until `shutdown` turns true. Storage errors are logged and retried.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        // `None`: the next scan starts from the oldest entry; `Some(k)`: after `k`.
        let mut cursor: Option<sled::IVec> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if cursor.is_none() {
                let now = Instant::now();
                for s in self.stalled.values_mut() {
                    s.ready = s.until <= now;
                }
            }
            let wait = match self.scan(&mut cursor, &mut shutdown).await {
                ScanEnd::Stop => return,
                ScanEnd::BackOff(delay) => {
                    cursor = None;
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                    continue;
                }
                ScanEnd::Done => self.stalled.values().map(|s| s.until).min(),
            };
            let retry_due = async {
                match wait {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.outbox.woken() => {}
                () = tokio::time::sleep(POLL) => {}
                () = retry_due => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            if wait.is_some_and(|at| at <= Instant::now()) {
                cursor = None;
            }
        }
    }

    /// Delivers every entry after `cursor` whose chat is not waiting.
    async fn scan(
        &mut self,
        cursor: &mut Option<sled::IVec>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> ScanEnd {
        loop {
            if *shutdown.borrow() {
                return ScanEnd::Stop;
            }
            let next = match cursor {
                None => self.outbox.tree().first(),
                Some(k) => self
                    .outbox
                    .tree()
                    .range::<&[u8], _>((Bound::Excluded(k.as_ref()), Bound::Unbounded))
                    .next()
                    .transpose(),
            };
            let (key, body) = match next {
                Ok(Some(entry)) => entry,
                Ok(None) => return ScanEnd::Done,
                Err(e) => {
                    tracing::error!(error = %e, "outbox unreadable; retrying");
                    return ScanEnd::BackOff(RETRY_INITIAL);
                }
            };
            *cursor = Some(key.clone());
            let chat = chat_of(&body);
            if self.stalled.get(&chat).is_some_and(|s| !s.ready) {
                continue;
            }
            match self.target.deliver(&body).await {
                Verdict::Accepted => {
                    self.succeeded(&chat);
                    if let Err(e) = self.remove(&key, None) {
                        tracing::error!(error = %e, "cannot delete a delivered outbox entry");
                    }
                    tracing::debug!(backlog = self.outbox.backlog(), "forwarded");
                }
                Verdict::Refused(status) => {
                    self.succeeded(&chat);
                    tracing::warn!(
                        status,
                        backlog = self.outbox.backlog(),
                        "webhook target refused an entry for good; moved to dead_letter"
                    );
                    if let Err(e) = self.remove(&key, Some(&body)) {
                        tracing::error!(error = %e, "cannot move an outbox entry to dead_letter");
                    }
                }
                Verdict::Retry {
                    reason,
                    status,
                    scope,
                } => {
                    if let Some(delay) = self.failed(chat, scope, status, &reason) {
                        return ScanEnd::BackOff(delay);
                    }
                }
            }
        }
    }

    fn succeeded(&mut self, chat: &str) {
        self.stalled.remove(chat);
        self.target_attempt = 0;
        self.failing.clear();
    }

    /// Records a failed delivery; `Some(delay)` when every chat must wait.
    fn failed(
        &mut self,
        chat: String,
        scope: Scope,
        status: Option<u16>,
        reason: &str,
    ) -> Option<Duration> {
        let rng = &mut rand::thread_rng();
        if !self.failing.contains(&chat) {
            self.failing.push(chat.clone());
        }
        let escalate = scope == Scope::Target
            || self.failing.len() >= ESCALATE_AFTER as usize
            || (self.stalled.len() >= MAX_STALLED_CHATS && !self.stalled.contains_key(&chat));
        if escalate {
            self.failing.clear();
            self.target_attempt = self.target_attempt.saturating_add(1);
            let delay = retry_delay(self.target_attempt, rng);
            if matches!(status, Some(401 | 403 | 404 | 405)) {
                tracing::error!(
                    %reason,
                    "webhook target refuses us: check BAILEYS_WEBHOOK_TARGET and the secret; \
                     nothing is dropped, retrying"
                );
            }
            tracing::warn!(
                %reason,
                attempt = self.target_attempt,
                backlog = self.outbox.backlog(),
                delay_ms = delay.as_millis() as u64,
                "webhook delivery failed; every chat waits"
            );
            return Some(delay);
        }
        let stalled_chats = self.stalled.len() + usize::from(!self.stalled.contains_key(&chat));
        let s = self.stalled.entry(chat).or_insert(Stalled {
            attempt: 0,
            until: Instant::now(),
            ready: false,
        });
        s.attempt = s.attempt.saturating_add(1);
        let delay = retry_delay(s.attempt, rng);
        s.until = Instant::now() + delay;
        s.ready = false;
        tracing::warn!(
            %reason,
            attempt = s.attempt,
            stalled_chats,
            delay_ms = delay.as_millis() as u64,
            "webhook target failed on one entry; its chat waits, others go on"
        );
        None
    }

    fn remove(&self, key: &[u8], dead: Option<&[u8]>) -> Result<(), StoreError> {
        let store = self.outbox.store();
        if let Some(body) = dead {
            self.dead.insert(key, body).map_err(|e| store.sled_err(e))?;
        }
        self.outbox
            .tree()
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
        let scope = |s| match verdict(s) {
            Verdict::Retry { scope, .. } => Some(scope),
            _ => None,
        };
        for s in [503, 502, 504, 429, 408, 401, 403, 404] {
            assert_eq!(scope(s), Some(Scope::Target), "{s}");
        }
        assert_eq!(scope(500), Some(Scope::Entry));
        assert_eq!(verdict(400), Verdict::Refused(400));
        assert_eq!(verdict(413), Verdict::Refused(413));
        assert_eq!(verdict(422), Verdict::Refused(422));
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
    fn chat_is_the_remote_jid() {
        assert_eq!(
            chat_of(br#"{"remoteJid":"1@s.whatsapp.net","x":[1]}"#),
            "1@s.whatsapp.net"
        );
        assert_eq!(chat_of(b"not json"), "");
    }
}
