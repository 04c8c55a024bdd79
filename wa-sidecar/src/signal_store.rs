//! [`SledSignalStore`]: the Signal state of [`wa_core::messaging::Messenger`] in sled trees.
//!
//! Writes are held in memory until [`SledSignalStore::commit`], which applies them — together
//! with the outbox entries the same Messenger call produced — in one sled transaction. The
//! driver commits and flushes after every Messenger call and before transmitting anything that
//! call produced, which is what the persistence contract of `wa_core::messaging::store` asks of
//! a batching store ("persist before send or acknowledge"). The transaction matters after a
//! crash: a ratchet step that reached the disk without the message it decrypted would make the
//! server's redelivery of that message a "duplicate", and the message would be lost.
//!
//! One-time prekeys mirror `DeviceState.prekeys` (the connection generates and uploads them;
//! [`SledSignalStore::sync_prekeys`] copies them in whenever the device record changes, and
//! `remove_prekey` plus `Connection::forget_prekey` drop a consumed one from both).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use sled::Transactional;
use wa_core::DeviceState;
use wa_core::messaging::{DeviceList, SignalStore, StoreError};
use wa_signal::{PreKeyRecord, SenderKeyRecord, SessionRecord};

/// Tree names (all prefixed `sig_`, cleared by [`crate::Store::wipe`]).
pub const SIGNAL_TREES: [&str; 7] = [
    "sig_sessions",
    "sig_identities",
    "sig_prekeys",
    "sig_sender_keys",
    "sig_lid_by_pn",
    "sig_pn_by_lid",
    "sig_devices",
];

const SESSIONS: usize = 0;
const IDENTITIES: usize = 1;
const PREKEYS: usize = 2;
const SENDER_KEYS: usize = 3;
const LID_BY_PN: usize = 4;
const PN_BY_LID: usize = 5;
const DEVICES: usize = 6;

/// Writes not yet committed: (tree index, key) → new value, `None` for a removal.
type Pending = BTreeMap<(usize, Vec<u8>), Option<Vec<u8>>>;

/// Signal sessions, identities, prekeys, sender keys, LID mappings and device lists in sled.
/// Clones share the uncommitted writes.
#[derive(Clone)]
pub struct SledSignalStore {
    trees: [sled::Tree; 7],
    pending: Arc<Mutex<Pending>>,
}

impl std::fmt::Debug for SledSignalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledSignalStore")
            .field("sessions", &self.trees[SESSIONS].len())
            .field("prekeys", &self.trees[PREKEYS].len())
            .finish_non_exhaustive()
    }
}

fn sled_err(e: sled::Error) -> StoreError {
    StoreError(format!("sled: {e}"))
}

fn text(bytes: &[u8], what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| StoreError(format!("stored {what} is not UTF-8")))
}

fn sender_key_id(group: &str, sender: &str) -> String {
    format!("{group}\u{0}{sender}")
}

impl SledSignalStore {
    /// Opens the trees in `store`.
    pub fn open(store: &crate::Store) -> Result<Self, crate::StoreError> {
        let t = |i: usize| store.tree(SIGNAL_TREES[i]);
        Ok(SledSignalStore {
            trees: [t(0)?, t(1)?, t(2)?, t(3)?, t(4)?, t(5)?, t(6)?],
            pending: Arc::default(),
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value of `key` in tree `t`, uncommitted writes first.
    fn get(&self, t: usize, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.pending().get(&(t, key.to_vec())) {
            return Ok(v.clone());
        }
        Ok(self.trees[t]
            .get(key)
            .map_err(sled_err)?
            .map(|v| v.to_vec()))
    }

    fn put(&self, t: usize, key: &[u8], value: Option<Vec<u8>>) {
        self.pending().insert((t, key.to_vec()), value);
    }

    /// Writes not yet committed.
    pub fn uncommitted(&self) -> usize {
        self.pending().len()
    }

    /// Applies every uncommitted write and appends `outbox_entries` to `outbox`, all in one
    /// transaction (durable at the next flush).
    pub fn commit(
        &self,
        outbox: &sled::Tree,
        outbox_entries: &[([u8; 8], Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut pending = self.pending();
        if pending.is_empty() && outbox_entries.is_empty() {
            return Ok(());
        }
        let mut trees: Vec<sled::Tree> = self.trees.to_vec();
        trees.push(outbox.clone());
        let result = trees.as_slice().transaction(|tx| {
            for ((t, key), value) in pending.iter() {
                match value {
                    Some(v) => tx[*t].insert(key.as_slice(), v.as_slice())?,
                    None => tx[*t].remove(key.as_slice())?,
                };
            }
            for (key, body) in outbox_entries {
                tx[7].insert(&key[..], body.as_slice())?;
            }
            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
        });
        result.map_err(|e| StoreError(format!("sled transaction: {e:?}")))?;
        pending.clear();
        Ok(())
    }

    /// Makes the prekey tree hold exactly the one-time prekeys of `device` (uncommitted).
    pub fn sync_prekeys(&self, device: &DeviceState) -> Result<(), StoreError> {
        for key in self.trees[PREKEYS].iter().keys() {
            let key = key.map_err(sled_err)?;
            let id = <[u8; 4]>::try_from(key.as_ref()).map(u32::from_be_bytes);
            if id.map_or(true, |id| !device.prekeys.contains_key(&id)) {
                self.put(PREKEYS, &key, None);
            }
        }
        for (id, key) in &device.prekeys {
            let k = id.to_be_bytes();
            if self.get(PREKEYS, &k)?.is_none() {
                let record = PreKeyRecord {
                    id: *id,
                    key_pair: key.key_pair.clone(),
                };
                self.put(PREKEYS, &k, Some(record.serialize()));
            }
        }
        Ok(())
    }

    /// Number of one-time prekeys held (committed).
    pub fn prekey_count(&self) -> usize {
        self.trees[PREKEYS].len()
    }

    /// Number of Signal sessions held (committed).
    pub fn session_count(&self) -> usize {
        self.trees[SESSIONS].len()
    }
}

impl SignalStore for SledSignalStore {
    fn load_session(&self, address: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.get(SESSIONS, address.as_bytes())?
            .map(|b| SessionRecord::deserialize(&b).map_err(StoreError::from))
            .transpose()
    }

    fn store_session(&mut self, address: &str, record: &SessionRecord) -> Result<(), StoreError> {
        self.put(SESSIONS, address.as_bytes(), Some(record.serialize()));
        Ok(())
    }

    fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>, StoreError> {
        match self.get(IDENTITIES, address.as_bytes())? {
            None => Ok(None),
            Some(b) => <[u8; 32]>::try_from(b.as_slice())
                .map(Some)
                .map_err(|_| StoreError(format!("stored identity of {address} is not 32 bytes"))),
        }
    }

    fn store_identity(&mut self, address: &str, key: &[u8; 32]) -> Result<(), StoreError> {
        self.put(IDENTITIES, address.as_bytes(), Some(key.to_vec()));
        Ok(())
    }

    fn load_prekey(&self, id: u32) -> Result<Option<PreKeyRecord>, StoreError> {
        self.get(PREKEYS, &id.to_be_bytes())?
            .map(|b| PreKeyRecord::deserialize(&b).map_err(StoreError::from))
            .transpose()
    }

    fn remove_prekey(&mut self, id: u32) -> Result<(), StoreError> {
        self.put(PREKEYS, &id.to_be_bytes(), None);
        Ok(())
    }

    fn load_sender_key(
        &self,
        group: &str,
        sender: &str,
    ) -> Result<Option<SenderKeyRecord>, StoreError> {
        self.get(SENDER_KEYS, sender_key_id(group, sender).as_bytes())?
            .map(|b| SenderKeyRecord::deserialize(&b).map_err(StoreError::from))
            .transpose()
    }

    fn store_sender_key(
        &mut self,
        group: &str,
        sender: &str,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError> {
        let key = sender_key_id(group, sender);
        self.put(SENDER_KEYS, key.as_bytes(), Some(record.serialize()));
        Ok(())
    }

    fn lid_for_pn(&self, pn_user: &str) -> Result<Option<String>, StoreError> {
        self.get(LID_BY_PN, pn_user.as_bytes())?
            .map(|b| text(&b, "LID"))
            .transpose()
    }

    fn pn_for_lid(&self, lid_user: &str) -> Result<Option<String>, StoreError> {
        self.get(PN_BY_LID, lid_user.as_bytes())?
            .map(|b| text(&b, "phone number"))
            .transpose()
    }

    fn store_lid_mapping(&mut self, lid_user: &str, pn_user: &str) -> Result<(), StoreError> {
        self.put(
            LID_BY_PN,
            pn_user.as_bytes(),
            Some(lid_user.as_bytes().to_vec()),
        );
        self.put(
            PN_BY_LID,
            lid_user.as_bytes(),
            Some(pn_user.as_bytes().to_vec()),
        );
        Ok(())
    }

    fn load_devices(&self, user: &str) -> Result<Option<DeviceList>, StoreError> {
        match self.get(DEVICES, user.as_bytes())? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StoreError(format!("stored device list of {user}: {e}"))),
        }
    }

    fn store_devices(&mut self, user: &str, list: &DeviceList) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(list)
            .map_err(|e| StoreError(format!("device list does not serialize: {e}")))?;
        self.put(DEVICES, user.as_bytes(), Some(bytes));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::OsRng;

    use super::*;

    #[test]
    fn records_survive_reopen_and_prekeys_follow_the_device() {
        let tmp = tempfile::tempdir().unwrap();
        let mut device = DeviceState::generate(&mut OsRng);
        device.prekeys.clear();
        let k = wa_crypto::KeyPair::generate(&mut OsRng);
        device.prekeys.insert(
            7,
            wa_core::StoredPreKey {
                key_pair: k.clone(),
            },
        );
        {
            let store = crate::Store::open(tmp.path()).unwrap();
            let mut sig = SledSignalStore::open(&store).unwrap();
            sig.sync_prekeys(&device).unwrap();
            sig.store_identity("1@lid", &[9; 32]).unwrap();
            sig.store_lid_mapping("1", "9725").unwrap();
            let list = DeviceList {
                devices: vec![0, 3],
                fetched_at: 5,
            };
            sig.store_devices("9725@s.whatsapp.net", &list).unwrap();
            let outbox = store.tree(crate::store::OUTBOX_TREE).unwrap();
            sig.commit(&outbox, &[]).unwrap();
            store.flush().unwrap();
        }
        let store = crate::Store::open(tmp.path()).unwrap();
        let mut sig = SledSignalStore::open(&store).unwrap();
        assert_eq!(sig.load_identity("1@lid").unwrap(), Some([9; 32]));
        assert_eq!(sig.lid_for_pn("9725").unwrap().as_deref(), Some("1"));
        assert_eq!(sig.pn_for_lid("1").unwrap().as_deref(), Some("9725"));
        assert_eq!(
            sig.load_devices("9725@s.whatsapp.net")
                .unwrap()
                .unwrap()
                .devices,
            vec![0, 3]
        );
        let pk = sig.load_prekey(7).unwrap().unwrap();
        assert_eq!(pk.key_pair.public, k.public);
        sig.remove_prekey(7).unwrap();
        assert!(sig.load_prekey(7).unwrap().is_none());
        device.prekeys.clear();
        sig.sync_prekeys(&device).unwrap();
        let outbox = store.tree(crate::store::OUTBOX_TREE).unwrap();
        sig.commit(&outbox, &[]).unwrap();
        assert_eq!(sig.prekey_count(), 0);
        assert!(sig.load_session("nobody@lid").unwrap().is_none());
    }

    #[test]
    fn writes_reach_sled_only_with_the_outbox_entries_they_belong_to() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let store = crate::Store::open(tmp.path()).unwrap();
            let mut sig = SledSignalStore::open(&store).unwrap();
            let outbox = store.tree(crate::store::OUTBOX_TREE).unwrap();
            sig.store_identity("a@lid", &[1; 32]).unwrap();
            sig.commit(&outbox, &[(1u64.to_be_bytes(), b"m1".to_vec())])
                .unwrap();
            // a second step is read back at once but not written until committed
            sig.store_identity("b@lid", &[2; 32]).unwrap();
            sig.remove_prekey(1).unwrap();
            assert_eq!(sig.load_identity("b@lid").unwrap(), Some([2; 32]));
            assert_eq!(sig.uncommitted(), 2);
            store.flush().unwrap();
        }
        let store = crate::Store::open(tmp.path()).unwrap();
        let sig = SledSignalStore::open(&store).unwrap();
        assert_eq!(sig.load_identity("a@lid").unwrap(), Some([1; 32]));
        assert_eq!(sig.load_identity("b@lid").unwrap(), None);
        let outbox = store.tree(crate::store::OUTBOX_TREE).unwrap();
        let bodies: Vec<Vec<u8>> = outbox
            .iter()
            .values()
            .map(|v| v.unwrap().to_vec())
            .collect();
        assert_eq!(bodies, vec![b"m1".to_vec()]);
    }
}
