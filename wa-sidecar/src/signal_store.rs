//! [`SledSignalStore`]: the Signal state of [`wa_core::messaging::Messenger`] in sled trees.
//!
//! Writes go to sled's page cache; the driver calls [`crate::Store::flush`] after every
//! Messenger call and before transmitting anything that call produced, which is what the
//! persistence contract of `wa_core::messaging::store` asks of a batching store ("persist
//! before send or acknowledge").
//!
//! One-time prekeys mirror `DeviceState.prekeys` (the connection generates and uploads them;
//! [`SledSignalStore::sync_prekeys`] copies them in whenever the device record changes, and
//! `remove_prekey` plus `Connection::forget_prekey` drop a consumed one from both).

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

/// Signal sessions, identities, prekeys, sender keys, LID mappings and device lists in sled.
#[derive(Clone)]
pub struct SledSignalStore {
    sessions: sled::Tree,
    identities: sled::Tree,
    prekeys: sled::Tree,
    sender_keys: sled::Tree,
    lid_by_pn: sled::Tree,
    pn_by_lid: sled::Tree,
    devices: sled::Tree,
}

impl std::fmt::Debug for SledSignalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledSignalStore")
            .field("sessions", &self.sessions.len())
            .field("prekeys", &self.prekeys.len())
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
            sessions: t(0)?,
            identities: t(1)?,
            prekeys: t(2)?,
            sender_keys: t(3)?,
            lid_by_pn: t(4)?,
            pn_by_lid: t(5)?,
            devices: t(6)?,
        })
    }

    /// Makes the prekey tree hold exactly the one-time prekeys of `device`.
    pub fn sync_prekeys(&self, device: &DeviceState) -> Result<(), StoreError> {
        for key in self.prekeys.iter().keys() {
            let key = key.map_err(sled_err)?;
            let id = <[u8; 4]>::try_from(key.as_ref()).map(u32::from_be_bytes);
            if id.map_or(true, |id| !device.prekeys.contains_key(&id)) {
                self.prekeys.remove(key).map_err(sled_err)?;
            }
        }
        for (id, key) in &device.prekeys {
            let k = id.to_be_bytes();
            if !self.prekeys.contains_key(k).map_err(sled_err)? {
                let record = PreKeyRecord {
                    id: *id,
                    key_pair: key.key_pair.clone(),
                };
                self.prekeys
                    .insert(k, record.serialize())
                    .map_err(sled_err)?;
            }
        }
        Ok(())
    }

    /// Number of one-time prekeys held.
    pub fn prekey_count(&self) -> usize {
        self.prekeys.len()
    }

    /// Number of Signal sessions held.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

impl SignalStore for SledSignalStore {
    fn load_session(&self, address: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions
            .get(address)
            .map_err(sled_err)?
            .map(|b| SessionRecord::deserialize(&b).map_err(StoreError::from))
            .transpose()
    }

    fn store_session(&mut self, address: &str, record: &SessionRecord) -> Result<(), StoreError> {
        self.sessions
            .insert(address, record.serialize())
            .map_err(sled_err)?;
        Ok(())
    }

    fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>, StoreError> {
        match self.identities.get(address).map_err(sled_err)? {
            None => Ok(None),
            Some(b) => <[u8; 32]>::try_from(b.as_ref())
                .map(Some)
                .map_err(|_| StoreError(format!("stored identity of {address} is not 32 bytes"))),
        }
    }

    fn store_identity(&mut self, address: &str, key: &[u8; 32]) -> Result<(), StoreError> {
        self.identities
            .insert(address, &key[..])
            .map_err(sled_err)?;
        Ok(())
    }

    fn load_prekey(&self, id: u32) -> Result<Option<PreKeyRecord>, StoreError> {
        self.prekeys
            .get(id.to_be_bytes())
            .map_err(sled_err)?
            .map(|b| PreKeyRecord::deserialize(&b).map_err(StoreError::from))
            .transpose()
    }

    fn remove_prekey(&mut self, id: u32) -> Result<(), StoreError> {
        self.prekeys.remove(id.to_be_bytes()).map_err(sled_err)?;
        Ok(())
    }

    fn load_sender_key(
        &self,
        group: &str,
        sender: &str,
    ) -> Result<Option<SenderKeyRecord>, StoreError> {
        self.sender_keys
            .get(sender_key_id(group, sender))
            .map_err(sled_err)?
            .map(|b| SenderKeyRecord::deserialize(&b).map_err(StoreError::from))
            .transpose()
    }

    fn store_sender_key(
        &mut self,
        group: &str,
        sender: &str,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError> {
        self.sender_keys
            .insert(sender_key_id(group, sender), record.serialize())
            .map_err(sled_err)?;
        Ok(())
    }

    fn lid_for_pn(&self, pn_user: &str) -> Result<Option<String>, StoreError> {
        self.lid_by_pn
            .get(pn_user)
            .map_err(sled_err)?
            .map(|b| text(&b, "LID"))
            .transpose()
    }

    fn pn_for_lid(&self, lid_user: &str) -> Result<Option<String>, StoreError> {
        self.pn_by_lid
            .get(lid_user)
            .map_err(sled_err)?
            .map(|b| text(&b, "phone number"))
            .transpose()
    }

    fn store_lid_mapping(&mut self, lid_user: &str, pn_user: &str) -> Result<(), StoreError> {
        self.lid_by_pn.insert(pn_user, lid_user).map_err(sled_err)?;
        self.pn_by_lid.insert(lid_user, pn_user).map_err(sled_err)?;
        Ok(())
    }

    fn load_devices(&self, user: &str) -> Result<Option<DeviceList>, StoreError> {
        match self.devices.get(user).map_err(sled_err)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StoreError(format!("stored device list of {user}: {e}"))),
        }
    }

    fn store_devices(&mut self, user: &str, list: &DeviceList) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(list)
            .map_err(|e| StoreError(format!("device list does not serialize: {e}")))?;
        self.devices.insert(user, bytes).map_err(sled_err)?;
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
        assert_eq!(sig.prekey_count(), 0);
        assert!(sig.load_session("nobody@lid").unwrap().is_none());
    }
}
