//! What the emulated server remembers across connections: the primary phones' accounts (key pair,
//! LID), the registered companion devices (noise key, Signal identity, uploaded prekeys) and the
//! registrations of companions that connected but are not paired yet.
//!
//! Plain data, no I/O: the driver keeps one `Registry` behind a mutex and lends it to the
//! per-connection state machines.

use std::collections::BTreeMap;

use rand_core::CryptoRngCore;
use serde::Serialize;
use wa_crypto::KeyPair;

/// The first LID user number handed out (an arbitrary 15-digit number, like real LIDs).
const FIRST_LID: u64 = 100_000_000_000_001;

/// A signed prekey as a companion registers or uploads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPreKey {
    /// Key id (sent as 3 bytes big-endian).
    pub id: u32,
    /// Public key, 32 bytes.
    pub public: [u8; 32],
    /// XEdDSA signature by the identity key, 64 bytes.
    pub signature: Vec<u8>,
}

/// Registration data a not-yet-paired companion sent in its ClientPayload (`devicePairingData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The companion's Noise static public key (from ClientFinish).
    pub noise_public: [u8; 32],
    /// Signal registration id.
    pub registration_id: u32,
    /// Signal identity public key.
    pub identity_public: [u8; 32],
    /// Signed prekey.
    pub signed_prekey: SignedPreKey,
    /// Push name, when the companion sent one.
    pub push_name: Option<String>,
}

/// A primary phone: the account that pairs companions.
pub struct Account {
    /// Phone number (digits only).
    pub phone: String,
    /// The account's LID user part.
    pub lid: u64,
    /// The account (primary identity) key pair that signs device identities.
    pub key: KeyPair,
    next_device: u32,
    next_key_index: u32,
}

/// A companion device that completed pairing.
#[derive(Debug, Clone)]
pub struct Device {
    /// Phone number of the account.
    pub phone: String,
    /// Device number within the account (≥ 1).
    pub device: u32,
    /// The account's LID user part.
    pub lid: u64,
    /// Key index from the ADV device identity.
    pub key_index: u32,
    /// What the companion registered (noise key, identity, signed prekey, push name).
    pub registration: Registration,
    /// The ADVSignedDeviceIdentity the companion returned (with its device signature).
    pub signed_identity: Vec<u8>,
    /// One-time prekeys uploaded and not handed out: id → public key.
    pub prekeys: BTreeMap<u32, [u8; 32]>,
    /// Unix seconds when pairing completed.
    pub paired_at: u64,
}

impl Device {
    /// `<phone>:<device>@s.whatsapp.net`.
    pub fn jid(&self) -> String {
        device_jid(&self.phone, self.device)
    }

    /// `<lid>:<device>@lid`.
    pub fn lid_jid(&self) -> String {
        format!("{}:{}@lid", self.lid, self.device)
    }
}

/// The phone-number device JID for `phone` and `device`.
pub fn device_jid(phone: &str, device: u32) -> String {
    format!("{phone}:{device}@s.whatsapp.net")
}

/// A device slot handed out by [`Registry::allocate_device`] when the phone scans a QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSlot {
    /// Phone number.
    pub phone: String,
    /// Device number.
    pub device: u32,
    /// The account's LID user part.
    pub lid: u64,
    /// Key index for the ADV device identity.
    pub key_index: u32,
    /// The account public key (accountSignatureKey).
    pub account_public: [u8; 32],
}

/// Why a login was refused; every variant is answered with `<failure reason="401"/>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefusal {
    /// No device is registered under that username and device number.
    #[error("no device {0} is registered")]
    UnknownDevice(String),
    /// The device exists but the connection presented another Noise static key.
    #[error("device {0} presented a noise key other than the registered one")]
    NoiseKeyMismatch(String),
}

/// Server-side memory shared by every connection.
#[derive(Default)]
pub struct Registry {
    accounts: BTreeMap<String, Account>,
    devices: BTreeMap<String, Device>,
    offline: BTreeMap<String, Vec<wa_binary::Node>>,
    next_lid: u64,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            next_lid: FIRST_LID,
            ..Self::default()
        }
    }

    /// Returns the account for `phone`, creating it (with a fresh account key pair) on first use.
    pub fn account(&mut self, phone: &str, rng: &mut impl CryptoRngCore) -> &mut Account {
        if self.next_lid < FIRST_LID {
            self.next_lid = FIRST_LID;
        }
        let next_lid = &mut self.next_lid;
        self.accounts.entry(phone.to_owned()).or_insert_with(|| {
            let lid = *next_lid;
            *next_lid += 1;
            Account {
                phone: phone.to_owned(),
                lid,
                key: KeyPair::generate(rng),
                next_device: 1,
                next_key_index: 1,
            }
        })
    }

    /// Reserves the next device number and key index of `phone`'s account for a scan.
    pub fn allocate_device(&mut self, phone: &str, rng: &mut impl CryptoRngCore) -> DeviceSlot {
        let account = self.account(phone, rng);
        let slot = DeviceSlot {
            phone: account.phone.clone(),
            device: account.next_device,
            lid: account.lid,
            key_index: account.next_key_index,
            account_public: account.key.public,
        };
        account.next_device += 1;
        account.next_key_index += 1;
        slot
    }

    /// The account key pair of `phone`, if the account exists.
    pub fn account_key(&self, phone: &str) -> Option<&KeyPair> {
        self.accounts.get(phone).map(|a| &a.key)
    }

    /// Records a device that completed pairing, replacing any older entry under the same JID.
    pub fn register(&mut self, device: Device) {
        self.devices.insert(device.jid(), device);
    }

    /// Removes a device (logout) and its offline queue; returns it if it was registered.
    pub fn remove(&mut self, jid: &str) -> Option<Device> {
        self.offline.remove(jid);
        self.devices.remove(jid)
    }

    /// Queues a stanza for a registered device that is not connected; stanzas for unknown
    /// devices are dropped. Queued stanzas carry `offline="1"` like the real server's.
    pub fn queue_offline(&mut self, jid: &str, mut node: wa_binary::Node) {
        if self.devices.contains_key(jid) {
            node.attrs.insert("offline", "1");
            self.offline.entry(jid.to_owned()).or_default().push(node);
        }
    }

    /// Puts `nodes` (delivered but never acknowledged) back in front of `jid`'s offline queue.
    pub fn requeue_front(&mut self, jid: &str, nodes: Vec<wa_binary::Node>) {
        if !self.devices.contains_key(jid) {
            return;
        }
        let queue = self.offline.entry(jid.to_owned()).or_default();
        let later = std::mem::take(queue);
        for mut node in nodes {
            node.attrs.insert("offline", "1");
            queue.push(node);
        }
        queue.extend(later);
    }

    /// Takes the stanzas queued for `jid`, oldest first.
    pub fn take_offline(&mut self, jid: &str) -> Vec<wa_binary::Node> {
        self.offline.remove(jid).unwrap_or_default()
    }

    /// The registered device with this JID.
    pub fn device(&self, jid: &str) -> Option<&Device> {
        self.devices.get(jid)
    }

    /// The registered device with this JID, mutably.
    pub fn device_mut(&mut self, jid: &str) -> Option<&mut Device> {
        self.devices.get_mut(jid)
    }

    /// The phone-number JID of the registered device addressed as `user[:device]@server`, where
    /// server is `s.whatsapp.net` or `lid`.
    pub fn resolve(&self, user: &str, server: &str, device: u32) -> Option<String> {
        if server == "lid" {
            self.devices
                .values()
                .find(|d| d.device == device && d.lid.to_string() == user)
                .map(Device::jid)
        } else {
            let jid = device_jid(user, device);
            self.devices.contains_key(&jid).then_some(jid)
        }
    }

    /// All registered devices, ordered by JID.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// Checks a login: `username`/`device` must be registered and `noise_public` must be the key
    /// that device registered with (compared in constant time).
    pub fn check_login(
        &self,
        username: u64,
        device: u32,
        noise_public: &[u8; 32],
    ) -> Result<&Device, LoginRefusal> {
        let jid = device_jid(&username.to_string(), device);
        let found = self
            .devices
            .get(&jid)
            .ok_or_else(|| LoginRefusal::UnknownDevice(jid.clone()))?;
        if wa_crypto::ct_eq(&found.registration.noise_public, noise_public) {
            Ok(found)
        } else {
            Err(LoginRefusal::NoiseKeyMismatch(jid))
        }
    }

    /// A JSON-ready summary of every registered device.
    pub fn device_views(&self) -> Vec<DeviceView> {
        self.devices.values().map(DeviceView::from).collect()
    }

    /// Number of accounts (phones that scanned at least once).
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }
}

/// What `GET /admin/devices` shows for a device. Public keys only; nothing secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeviceView {
    /// Device JID.
    pub jid: String,
    /// Device LID.
    pub lid: String,
    /// Push name.
    pub push_name: Option<String>,
    /// Signal registration id.
    pub registration_id: u32,
    /// Identity public key, hex.
    pub identity_key: String,
    /// Noise static public key, hex.
    pub noise_key: String,
    /// ADV key index.
    pub key_index: u32,
    /// One-time prekeys held for this device.
    pub prekeys: usize,
    /// Signed prekey id.
    pub signed_prekey_id: u32,
    /// Unix seconds when pairing completed.
    pub paired_at: u64,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        Self {
            jid: d.jid(),
            lid: d.lid_jid(),
            push_name: d.registration.push_name.clone(),
            registration_id: d.registration.registration_id,
            identity_key: hex::encode(d.registration.identity_public),
            noise_key: hex::encode(d.registration.noise_public),
            key_index: d.key_index,
            prekeys: d.prekeys.len(),
            signed_prekey_id: d.registration.signed_prekey.id,
            paired_at: d.paired_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn registration(noise: u8) -> Registration {
        Registration {
            noise_public: [noise; 32],
            registration_id: 7,
            identity_public: [9; 32],
            signed_prekey: SignedPreKey {
                id: 1,
                public: [4; 32],
                signature: vec![5; 64],
            },
            push_name: Some("tester".into()),
        }
    }

    fn device(reg: &mut Registry, noise: u8) -> Device {
        let slot = reg.allocate_device("972500000001", &mut OsRng);
        Device {
            phone: slot.phone,
            device: slot.device,
            lid: slot.lid,
            key_index: slot.key_index,
            registration: registration(noise),
            signed_identity: vec![],
            prekeys: BTreeMap::new(),
            paired_at: 0,
        }
    }

    #[test]
    fn devices_of_one_phone_get_increasing_numbers_and_one_lid() {
        let mut reg = Registry::new();
        let a = device(&mut reg, 1);
        let b = device(&mut reg, 2);
        assert_eq!((a.device, b.device), (1, 2));
        assert_eq!((a.key_index, b.key_index), (1, 2));
        assert_eq!(a.lid, b.lid);
        assert_eq!(a.jid(), "972500000001:1@s.whatsapp.net");
        assert_eq!(a.lid_jid(), format!("{}:1@lid", a.lid));
        assert_eq!(reg.account_count(), 1);
    }

    #[test]
    fn login_requires_the_registered_noise_key() {
        let mut reg = Registry::new();
        let d = device(&mut reg, 1);
        reg.register(d);
        assert!(reg.check_login(972500000001, 1, &[1; 32]).is_ok());
        assert_eq!(
            reg.check_login(972500000001, 1, &[2; 32]).unwrap_err(),
            LoginRefusal::NoiseKeyMismatch("972500000001:1@s.whatsapp.net".into())
        );
        assert!(matches!(
            reg.check_login(972500000001, 5, &[1; 32]),
            Err(LoginRefusal::UnknownDevice(_))
        ));
        assert!(reg.remove("972500000001:1@s.whatsapp.net").is_some());
        assert!(reg.check_login(972500000001, 1, &[1; 32]).is_err());
    }
}
