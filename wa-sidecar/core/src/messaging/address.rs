//! Message ids and Signal addresses.

use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use wa_binary::{DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, Jid};

use super::store::{SignalStore, StoreError};

/// A new message id: `3EB0` + the first 9 bytes (18 upper-case hex characters) of
/// SHA256(u64 BE unix seconds || user || "@c.us" || 16 random bytes) (fact sheet 5.4; Baileys
/// `generateMessageIDV2` in `src/Utils/generics.ts`, whatsmeow `GenerateMessageID`).
/// `now` is unix milliseconds; `own_user` is our phone-number user.
pub fn generate_message_id(now: u64, own_user: &str, rng: &mut impl CryptoRngCore) -> String {
    let mut random = [0u8; 16];
    rng.fill_bytes(&mut random);
    let mut hash = Sha256::new();
    hash.update((now / 1000).to_be_bytes());
    hash.update(own_user.as_bytes());
    hash.update(b"@c.us");
    hash.update(random);
    let digest = hash.finalize();
    let mut id = String::from("3EB0");
    id.push_str(&hex::encode_upper(&digest[..9]));
    id
}

/// The Signal address of a device JID (`user[:device]@server`), with a phone-number JID
/// replaced by its LID when the store knows the mapping (Baileys stores sessions under LID
/// addresses, fact sheet 6.6).
pub(crate) fn canonical(store: &dyn SignalStore, jid: &Jid) -> Result<Jid, StoreError> {
    if jid.server == DEFAULT_USER_SERVER
        && let Some(lid) = store.lid_for_pn(&jid.user)?
    {
        return Ok(Jid::new(lid, HIDDEN_USER_SERVER).with_device(jid.device));
    }
    Ok(device_only(jid))
}

/// Records that `lid_user` and `pn_user` are one account and moves the sessions (and
/// identities) of the given phone-number `devices` to their LID addresses when only the PN
/// address has one, so a mapping learnt mid-conversation does not orphan a live session
/// (Baileys `migrateSession` in `src/Signal/libsignal.ts`). Nothing is written when the
/// mapping was already known.
pub(crate) fn learn_lid(
    store: &mut dyn SignalStore,
    lid_user: &str,
    pn_user: &str,
    devices: &[u16],
) -> Result<(), StoreError> {
    if store.lid_for_pn(pn_user)?.as_deref() == Some(lid_user) {
        return Ok(());
    }
    store.store_lid_mapping(lid_user, pn_user)?;
    for device in devices {
        let pn = Jid::new(pn_user, DEFAULT_USER_SERVER)
            .with_device(*device)
            .to_string();
        let lid = Jid::new(lid_user, HIDDEN_USER_SERVER)
            .with_device(*device)
            .to_string();
        if store.load_session(&lid)?.is_some() {
            continue;
        }
        if let Some(record) = store.load_session(&pn)? {
            store.store_session(&lid, &record)?;
            if let Some(identity) = store.load_identity(&pn)? {
                store.store_identity(&lid, &identity)?;
            }
        }
    }
    Ok(())
}

/// `jid` without agent/integrator (user, server and device only).
pub(crate) fn device_only(jid: &Jid) -> Jid {
    Jid::new(jid.user.clone(), jid.server.clone()).with_device(jid.device)
}

/// The user of `jid` as a bare JID (`user@server`).
pub(crate) fn bare(jid: &Jid) -> Jid {
    Jid::new(jid.user.clone(), jid.server.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::store::MemoryStore;
    use rand_core::SeedableRng;

    #[test]
    fn message_ids_have_the_reference_shape_and_differ() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let a = generate_message_id(1_700_000_000_000, "972500000001", &mut rng);
        let b = generate_message_id(1_700_000_000_000, "972500000001", &mut rng);
        assert_eq!(a.len(), 22);
        assert!(a.starts_with("3EB0"));
        assert!(
            a[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn phone_addresses_become_lid_addresses_once_mapped() {
        let mut store = MemoryStore::new();
        let pn = Jid::parse("972500000001:3@s.whatsapp.net").unwrap();
        assert_eq!(
            canonical(&store, &pn).unwrap().to_string(),
            "972500000001:3@s.whatsapp.net"
        );
        store.store_lid_mapping("1000001", "972500000001").unwrap();
        assert_eq!(canonical(&store, &pn).unwrap().to_string(), "1000001:3@lid");
    }
}
