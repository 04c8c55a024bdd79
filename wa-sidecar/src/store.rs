//! The sled store under `WA_STATE_DIR`.
//!
//! Trees:
//! * `device`: the [`DeviceState`] under key `current`, encoded as one format-version byte
//!   ([`FORMAT_VERSION`]) followed by its JSON;
//! * `meta`: `logged_out` (the reason the server ended the session, UTF-8);
//! * `idempotency`: `/send` idempotency keys ([`crate::idempotency`]);
//! * `outbox` and `dead_letter`: the inbound outbox ([`crate::outbox`]);
//! * `sig_*`: Signal state ([`crate::signal_store`]).
//!
//! Every write a protocol step depends on is flushed before it returns.

use std::path::{Path, PathBuf};

use wa_core::DeviceState;

/// Version byte in front of the serialized device state.
pub const FORMAT_VERSION: u8 = 1;

const DEVICE_TREE: &str = "device";
const META_TREE: &str = "meta";
/// Tree holding `/send` idempotency keys (messaging feature).
pub const IDEMPOTENCY_TREE: &str = "idempotency";
/// Tree holding the durable inbound outbox (forwarder feature).
pub const OUTBOX_TREE: &str = "outbox";
/// Tree holding outbox entries the target refused for good (a permanent 4xx).
pub const DEAD_LETTER_TREE: &str = "dead_letter";
const DEVICE_KEY: &[u8] = b"current";
const LOGGED_OUT_KEY: &[u8] = b"logged_out";

/// Why the store failed. Paths are always named so the operator knows what to look at.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (a running `wa-sidecar run`?) holds the database lock.
    #[error("state directory {} is in use by another wa-sidecar process", path.display())]
    Locked {
        /// The state directory.
        path: PathBuf,
    },
    /// sled could not open or write the database.
    #[error("state store {} failed: {source}", path.display())]
    Sled {
        /// The state directory.
        path: PathBuf,
        /// The sled error.
        source: sled::Error,
    },
    /// The stored device state cannot be read. Never silently replaced by a new pairing.
    #[error(
        "device state in {} is corrupt ({reason}); refusing to continue. Move the directory \
         away and run `wa-sidecar login` to pair again",
        path.display()
    )]
    Corrupt {
        /// The state directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Messaging state (Signal records, outbox, idempotency keys) could not be read or written.
    #[error("messaging state in {} failed: {reason}", path.display())]
    Data {
        /// The state directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// Handle to the sled database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    device: sled::Tree,
    meta: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// How long [`Store::open`] waits for a lock held elsewhere.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

impl Store {
    /// Opens (creating if needed) the database in `dir`.
    ///
    /// A lock held by someone else is waited for up to [`LOCK_WAIT`]: sled releases its file
    /// lock only once its background writers are done, a moment after the last handle of a
    /// store closed in this process (a restart in place). Another process's lock stays and is
    /// reported as [`StoreError::Locked`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.to_owned();
        let started = std::time::Instant::now();
        let db = loop {
            match sled::Config::new().path(dir).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                    if started.elapsed() >= LOCK_WAIT {
                        return Err(StoreError::Locked { path });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Err(source) => return Err(StoreError::Sled { path, source }),
            }
        };
        let tree = |name: &str| {
            db.open_tree(name).map_err(|source| StoreError::Sled {
                path: path.clone(),
                source,
            })
        };
        let device = tree(DEVICE_TREE)?;
        let meta = tree(META_TREE)?;
        Ok(Store {
            db,
            path,
            device,
            meta,
        })
    }

    /// The state directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn sled_err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    pub(crate) fn data_err(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Data {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The stored device, `None` when nothing was ever stored.
    pub fn load_device(&self) -> Result<Option<DeviceState>, StoreError> {
        let Some(bytes) = self.device.get(DEVICE_KEY).map_err(|e| self.sled_err(e))? else {
            return Ok(None);
        };
        match bytes.split_first() {
            None => Err(self.corrupt("empty device record")),
            Some((&FORMAT_VERSION, json)) => serde_json::from_slice(json)
                .map(Some)
                .map_err(|e| self.corrupt(format!("undecodable device record: {e}"))),
            Some((v, _)) => Err(self.corrupt(format!(
                "device record has format version {v}, this build reads {FORMAT_VERSION}"
            ))),
        }
    }

    /// Stores `device` and flushes to disk before returning.
    pub fn save_device(&self, device: &DeviceState) -> Result<(), StoreError> {
        let mut bytes = vec![FORMAT_VERSION];
        serde_json::to_writer(&mut bytes, device)
            .map_err(|e| self.corrupt(format!("device state does not serialize: {e}")))?;
        self.device
            .insert(DEVICE_KEY, bytes)
            .map_err(|e| self.sled_err(e))?;
        self.flush()
    }

    /// Why the server logged this device out, if it did.
    pub fn logged_out_reason(&self) -> Result<Option<String>, StoreError> {
        let value = self
            .meta
            .get(LOGGED_OUT_KEY)
            .map_err(|e| self.sled_err(e))?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Records that the session was logged out (flushed).
    pub fn set_logged_out(&self, reason: &str) -> Result<(), StoreError> {
        self.meta
            .insert(LOGGED_OUT_KEY, reason.as_bytes())
            .map_err(|e| self.sled_err(e))?;
        self.flush()
    }

    /// Deletes everything: device, logged-out marker, idempotency keys, outbox (flushed).
    pub fn wipe(&self) -> Result<(), StoreError> {
        let named = [
            DEVICE_TREE,
            META_TREE,
            IDEMPOTENCY_TREE,
            OUTBOX_TREE,
            DEAD_LETTER_TREE,
        ];
        for name in named.into_iter().chain(crate::signal_store::SIGNAL_TREES) {
            self.db
                .open_tree(name)
                .and_then(|t| t.clear())
                .map_err(|e| self.sled_err(e))?;
        }
        self.flush()
    }

    /// A named tree for later features ([`IDEMPOTENCY_TREE`], [`OUTBOX_TREE`]).
    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(name).map_err(|e| self.sled_err(e))
    }

    /// Entries waiting in the inbound outbox.
    pub fn outbox_len(&self) -> u64 {
        self.tree(OUTBOX_TREE).map_or(0, |t| t.len() as u64)
    }

    /// Entries the webhook target refused for good (kept for an operator to inspect).
    pub fn dead_letter_len(&self) -> u64 {
        self.tree(DEAD_LETTER_TREE).map_or(0, |t| t.len() as u64)
    }

    /// A fresh id, strictly increasing across restarts (sled's `generate_id`).
    pub fn next_id(&self) -> Result<u64, StoreError> {
        self.db.generate_id().map_err(|e| self.sled_err(e))
    }

    /// Flushes all pending writes to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.sled_err(e))
    }

    /// Overwrites the raw device record (tests of corruption handling).
    #[doc(hidden)]
    pub fn put_raw_device_record(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.device
            .insert(DEVICE_KEY, bytes)
            .map_err(|e| self.sled_err(e))?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::OsRng;

    use super::*;

    #[test]
    fn device_round_trips_across_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let device = DeviceState::generate(&mut OsRng);
        {
            let store = Store::open(tmp.path()).unwrap();
            assert!(store.load_device().unwrap().is_none());
            store.save_device(&device).unwrap();
        }
        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(store.load_device().unwrap(), Some(device));
    }

    #[test]
    fn second_open_reports_lock_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let _first = Store::open(tmp.path()).unwrap();
        let err = Store::open(tmp.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains(&tmp.path().display().to_string()));
    }

    #[test]
    fn corrupt_or_unknown_version_is_an_error_not_a_new_device() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        for raw in [&b""[..], b"\x01{not json", b"\x09{}"] {
            store.put_raw_device_record(raw).unwrap();
            let err = store.load_device().unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains(&tmp.path().display().to_string()));
        }
    }

    #[test]
    fn logged_out_reason_persists_and_wipe_clears_everything() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let store = Store::open(tmp.path()).unwrap();
            store
                .save_device(&DeviceState::generate(&mut OsRng))
                .unwrap();
            store.set_logged_out("device_removed").unwrap();
            store.tree(OUTBOX_TREE).unwrap().insert(b"1", b"x").unwrap();
            assert_eq!(store.outbox_len(), 1);
        }
        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(
            store.logged_out_reason().unwrap().as_deref(),
            Some("device_removed")
        );
        store.wipe().unwrap();
        assert!(store.load_device().unwrap().is_none());
        assert!(store.logged_out_reason().unwrap().is_none());
        assert_eq!(store.outbox_len(), 0);
    }
}
