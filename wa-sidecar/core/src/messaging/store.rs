//! The Signal state a [`super::Messenger`] reads and writes, behind a synchronous trait the
//! driver implements over its durable store (sled), plus [`MemoryStore`] for tests.
//!
//! # Persistence contract
//!
//! Every write happens synchronously inside the `Messenger` call that needs it, and the
//! stanza or event it produced is only queued afterwards. A driver whose store is durable on
//! write therefore gets "persist before send" and "persist before acknowledge" for free.
//! A driver that batches writes must commit everything one call wrote before transmitting
//! the nodes that call queued; for exactly-once delivery into its own outbox it should commit
//! the writes of a `handle_node` call together with the outbox entry for the
//! [`super::Incoming`] that call produced (e.g. one sled transaction).
//!
//! Addresses are Signal addresses rendered as JIDs, `user[:device]@server` (device 0 is
//! written without `:0`). A phone-number address is replaced by the LID one whenever a
//! LID↔PN mapping is known, as Baileys does (fact sheet 6.6, `signalStorage` in
//! `src/Signal/libsignal.ts`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wa_signal::{PreKeyRecord, SenderKeyRecord, SessionRecord};

/// The driver's storage failed (disk, database): the store's fault, not the peer's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signal store failure: {0}")]
pub struct StoreError(pub String);

impl From<wa_signal::SignalError> for StoreError {
    fn from(e: wa_signal::SignalError) -> Self {
        StoreError(format!("stored record unreadable: {e}"))
    }
}

/// A cached device list for one user (fact sheet 8.3, "device-list cache").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// Device ids (0 is the primary phone).
    pub devices: Vec<u16>,
    /// When the list was fetched (unix millis, the `now` of the call that stored it).
    pub fetched_at: u64,
}

/// Signal protocol state, read and written synchronously by [`super::Messenger`].
///
/// See the module documentation for the persistence contract.
pub trait SignalStore {
    /// The session with `address`, if any.
    fn load_session(&self, address: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Replaces the session with `address`.
    fn store_session(&mut self, address: &str, record: &SessionRecord) -> Result<(), StoreError>;
    /// The identity key last seen for `address`.
    fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>, StoreError>;
    /// Records the identity key of `address` (trust on first use, replaced on change).
    fn store_identity(&mut self, address: &str, key: &[u8; 32]) -> Result<(), StoreError>;
    /// Our one-time prekey `id` (the private halves the connection generated for upload,
    /// `DeviceState.prekeys`).
    fn load_prekey(&self, id: u32) -> Result<Option<PreKeyRecord>, StoreError>;
    /// Deletes one-time prekey `id` after a `pkmsg` consumed it (the session that used it
    /// has already been stored by then).
    fn remove_prekey(&mut self, id: u32) -> Result<(), StoreError>;
    /// The sender key of `sender` (an address) in `group` (a group JID).
    fn load_sender_key(
        &self,
        group: &str,
        sender: &str,
    ) -> Result<Option<SenderKeyRecord>, StoreError>;
    /// Replaces the sender key of `sender` in `group`.
    fn store_sender_key(
        &mut self,
        group: &str,
        sender: &str,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError>;
    /// The LID user for a phone-number user (bare users, no server or device).
    fn lid_for_pn(&self, pn_user: &str) -> Result<Option<String>, StoreError>;
    /// The phone-number user for a LID user.
    fn pn_for_lid(&self, lid_user: &str) -> Result<Option<String>, StoreError>;
    /// Records that `lid_user` and `pn_user` are the same account.
    fn store_lid_mapping(&mut self, lid_user: &str, pn_user: &str) -> Result<(), StoreError>;
    /// The cached device list of `user` (a bare user JID such as `972...@s.whatsapp.net`).
    fn load_devices(&self, user: &str) -> Result<Option<DeviceList>, StoreError>;
    /// Caches the device list of `user`.
    fn store_devices(&mut self, user: &str, list: &DeviceList) -> Result<(), StoreError>;
}

/// An in-memory [`SignalStore`] holding records in their serialized form, so that it can be
/// saved and restored whole with serde (used by tests to simulate a restart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStore {
    sessions: BTreeMap<String, Vec<u8>>,
    identities: BTreeMap<String, [u8; 32]>,
    prekeys: BTreeMap<u32, Vec<u8>>,
    sender_keys: BTreeMap<String, Vec<u8>>,
    lid_by_pn: BTreeMap<String, String>,
    pn_by_lid: BTreeMap<String, String>,
    devices: BTreeMap<String, DeviceList>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding the one-time prekeys of `device` (what the connection uploaded).
    pub fn from_device(device: &crate::DeviceState) -> Self {
        let mut store = Self::new();
        for (id, key) in &device.prekeys {
            let record = PreKeyRecord {
                id: *id,
                key_pair: key.key_pair.clone(),
            };
            store.prekeys.insert(*id, record.serialize());
        }
        store
    }

    /// Adds a one-time prekey (e.g. after the connection uploaded a new batch).
    pub fn add_prekey(&mut self, record: &PreKeyRecord) {
        self.prekeys.insert(record.id, record.serialize());
    }

    /// Number of one-time prekeys still held.
    pub fn prekey_count(&self) -> usize {
        self.prekeys.len()
    }

    /// Addresses we hold a session record for.
    pub fn session_addresses(&self) -> Vec<String> {
        self.sessions.keys().cloned().collect()
    }
}

fn sender_key_id(group: &str, sender: &str) -> String {
    format!("{group}\u{0}{sender}")
}

impl SignalStore for MemoryStore {
    fn load_session(&self, address: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions
            .get(address)
            .map(|b| SessionRecord::deserialize(b).map_err(StoreError::from))
            .transpose()
    }

    fn store_session(&mut self, address: &str, record: &SessionRecord) -> Result<(), StoreError> {
        self.sessions.insert(address.to_owned(), record.serialize());
        Ok(())
    }

    fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self.identities.get(address).copied())
    }

    fn store_identity(&mut self, address: &str, key: &[u8; 32]) -> Result<(), StoreError> {
        self.identities.insert(address.to_owned(), *key);
        Ok(())
    }

    fn load_prekey(&self, id: u32) -> Result<Option<PreKeyRecord>, StoreError> {
        self.prekeys
            .get(&id)
            .map(|b| PreKeyRecord::deserialize(b).map_err(StoreError::from))
            .transpose()
    }

    fn remove_prekey(&mut self, id: u32) -> Result<(), StoreError> {
        self.prekeys.remove(&id);
        Ok(())
    }

    fn load_sender_key(
        &self,
        group: &str,
        sender: &str,
    ) -> Result<Option<SenderKeyRecord>, StoreError> {
        self.sender_keys
            .get(&sender_key_id(group, sender))
            .map(|b| SenderKeyRecord::deserialize(b).map_err(StoreError::from))
            .transpose()
    }

    fn store_sender_key(
        &mut self,
        group: &str,
        sender: &str,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError> {
        self.sender_keys
            .insert(sender_key_id(group, sender), record.serialize());
        Ok(())
    }

    fn lid_for_pn(&self, pn_user: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lid_by_pn.get(pn_user).cloned())
    }

    fn pn_for_lid(&self, lid_user: &str) -> Result<Option<String>, StoreError> {
        Ok(self.pn_by_lid.get(lid_user).cloned())
    }

    fn store_lid_mapping(&mut self, lid_user: &str, pn_user: &str) -> Result<(), StoreError> {
        self.lid_by_pn
            .insert(pn_user.to_owned(), lid_user.to_owned());
        self.pn_by_lid
            .insert(lid_user.to_owned(), pn_user.to_owned());
        Ok(())
    }

    fn load_devices(&self, user: &str) -> Result<Option<DeviceList>, StoreError> {
        Ok(self.devices.get(user).cloned())
    }

    fn store_devices(&mut self, user: &str, list: &DeviceList) -> Result<(), StoreError> {
        self.devices.insert(user.to_owned(), list.clone());
        Ok(())
    }
}
