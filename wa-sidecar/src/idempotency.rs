//! `/send` idempotency records and send pacing.
//!
//! A record (sled tree `idempotency`, key = the caller's `idempotencyKey`) holds the WhatsApp
//! message id we chose, a SHA-256 of the request and the send's state. It is written before the
//! send command goes to the driver, which flushes sled before the message is handed to the
//! connection (see `crate::messaging`), so a retried request (also after a restart) never sends a
//! second message: `Sent` answers with the same id, `Failed` with the same failure, and
//! `Pending` (interrupted before the server answered) is reported as an unknown outcome rather
//! than resent. (A record whose message never left may be lost in a crash, which is harmless.)

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{IDEMPOTENCY_TREE, Store, StoreError};

/// Where one idempotent send stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SendState {
    /// Handed to the connection; no server answer recorded yet.
    Pending,
    /// The server acknowledged it.
    Sent,
    /// It failed for good.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One stored idempotency record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The WhatsApp message id.
    pub message_id: String,
    /// Hex SHA-256 of the canonical request.
    pub request_hash: String,
    /// State.
    #[serde(flatten)]
    pub state: SendState,
}

/// Result of [`Idempotency::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// New key: a `Pending` record with this id is stored and flushed; send it.
    New,
    /// The key was used before with the same request.
    Existing(Record),
    /// The key was used before with a different request.
    Conflict,
}

/// The idempotency tree.
#[derive(Clone)]
pub struct Idempotency {
    store: Store,
    tree: sled::Tree,
}

/// Canonical hash of a send request (its re-serialized JSON).
pub fn request_hash(req: &shared::SendRequest) -> String {
    let bytes = serde_json::to_vec(req).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

impl Idempotency {
    /// The tree in `store`.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Idempotency {
            tree: store.tree(IDEMPOTENCY_TREE)?,
            store: store.clone(),
        })
    }

    /// The record for `key`.
    pub fn get(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let Some(bytes) = self.tree.get(key).map_err(|e| self.store.sled_err(e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            self.store
                .data_err(format!("idempotency record unreadable: {e}"))
        })
    }

    /// Stores a `Pending` record with `message_id` unless `key` exists (atomic). Not flushed:
    /// the driver flushes before the message leaves.
    pub fn reserve(
        &self,
        key: &str,
        hash: &str,
        message_id: &str,
    ) -> Result<Reservation, StoreError> {
        let record = Record {
            message_id: message_id.to_owned(),
            request_hash: hash.to_owned(),
            state: SendState::Pending,
        };
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        let swapped = self
            .tree
            .compare_and_swap(key, None::<&[u8]>, Some(bytes))
            .map_err(|e| self.store.sled_err(e))?;
        if swapped.is_ok() {
            return Ok(Reservation::New);
        }
        match self.get(key)? {
            Some(r) if r.request_hash == hash => Ok(Reservation::Existing(r)),
            Some(_) => Ok(Reservation::Conflict),
            None => Ok(Reservation::Conflict),
        }
    }

    /// Records the outcome for the record whose id is `message_id` under `key`. Not flushed:
    /// the caller flushes before telling anyone the outcome.
    pub fn finish(&self, key: &str, message_id: &str, state: SendState) -> Result<(), StoreError> {
        if let Some(mut record) = self.get(key)?
            && record.message_id == message_id
        {
            record.state = state;
            let bytes = serde_json::to_vec(&record).unwrap_or_default();
            self.tree
                .insert(key, bytes)
                .map_err(|e| self.store.sled_err(e))?;
        }
        Ok(())
    }
}

impl Idempotency {
    /// Deletes the `Pending` record of `message_id` under `key` after the driver refused it
    /// without sending anything (not logged in), so a later retry with the key can send.
    pub fn forget_unsent(&self, key: &str, message_id: &str) -> Result<(), StoreError> {
        if let Some(record) = self.get(key)?
            && record.message_id == message_id
            && record.state == SendState::Pending
        {
            self.tree.remove(key).map_err(|e| self.store.sled_err(e))?;
            self.store.flush()?;
        }
        Ok(())
    }
}

/// Token bucket pacing new sends: `per_min` tokens a minute, at most `burst` saved up.
#[derive(Debug)]
pub struct RateLimiter {
    per_min: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

/// Default `WA_SEND_RATE_PER_MIN`.
pub const DEFAULT_RATE_PER_MIN: u32 = 20;
/// Burst size of the send bucket.
pub const BURST: u32 = 5;

impl RateLimiter {
    /// A full bucket.
    pub fn new(per_min: u32, burst: u32) -> Self {
        RateLimiter {
            per_min: f64::from(per_min.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes a token at `now`, or says how long until one is available.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_min / 60.0).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) * 60.0 / self.per_min,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> shared::SendRequest {
        serde_json::from_value(serde_json::json!({
            "to": "972501234567", "type": "text", "text": text, "idempotencyKey": "k"
        }))
        .unwrap()
    }

    #[test]
    fn reserve_is_once_per_key_and_survives_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let h1 = request_hash(&req("a"));
        let h2 = request_hash(&req("b"));
        assert_ne!(h1, h2);
        {
            let store = Store::open(tmp.path()).unwrap();
            let idem = Idempotency::open(&store).unwrap();
            assert_eq!(idem.reserve("k", &h1, "ID1").unwrap(), Reservation::New);
            idem.finish("k", "ID1", SendState::Sent).unwrap();
            store.flush().unwrap(); // what the driver does before reporting the outcome
        }
        let store = Store::open(tmp.path()).unwrap();
        let idem = Idempotency::open(&store).unwrap();
        match idem.reserve("k", &h1, "ID2").unwrap() {
            Reservation::Existing(r) => {
                assert_eq!(r.message_id, "ID1");
                assert_eq!(r.state, SendState::Sent);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            idem.reserve("k", &h2, "ID3").unwrap(),
            Reservation::Conflict
        );
    }

    #[test]
    fn bucket_allows_burst_then_paces() {
        let mut rl = RateLimiter::new(20, 5);
        let t0 = Instant::now();
        for _ in 0..5 {
            rl.try_take(t0).unwrap();
        }
        let wait = rl.try_take(t0).unwrap_err();
        assert!(
            wait > Duration::from_secs(2) && wait <= Duration::from_secs(3),
            "{wait:?}"
        );
        rl.try_take(t0 + Duration::from_secs(3)).unwrap();
    }
}
