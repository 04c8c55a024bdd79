//! The primary phone's half of QR pairing: the signed device identity (ADV) the phone issues
//! for a companion, and the check of the companion's device signature that comes back.
//!
//! Facts (fact sheet §4.2; whatsmeow `pair.go` `handlePairSuccess` and `Adv*SignaturePrefix`,
//! Baileys `configureSuccessfulPairing` in `src/Utils/validate-connection.ts` and
//! `WA_ADV_*_PREFIX` in `src/Defaults/index.ts`, whatsapp-rust `ADV_PREFIX_*` in `wacore/src/pair.rs`):
//! * accountSignature = XEdDSA(account key, `06 00` || details || companion identity pub)
//! * deviceSignature = XEdDSA(companion identity key, `06 01` || details || identity pub || account pub)
//! * HMAC = HMAC-SHA256(adv secret from the QR, ADVSignedDeviceIdentity bytes) (no prefix for E2EE).

use prost::Message as _;
use rand_core::CryptoRngCore;
use wa_crypto::KeyPair;
use wa_protos::wa::{AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};

/// Prefix of the message the account key signs (E2EE accounts).
pub const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the message the companion's identity key signs.
pub const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];

/// What the phone issued for one companion.
#[derive(Debug, Clone)]
pub struct IssuedIdentity {
    /// The `ADVSignedDeviceIdentityHMAC` bytes for `<device-identity>` in pair-success.
    pub hmac_container: Vec<u8>,
    /// The `ADVDeviceIdentity` bytes (the `details` that both signatures cover).
    pub details: Vec<u8>,
    /// The account public key (accountSignatureKey).
    pub account_public: [u8; 32],
    /// Key index written into the details.
    pub key_index: u32,
}

/// Why the companion's `pair-device-sign` answer was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AdvError {
    /// The bytes are not an ADVSignedDeviceIdentity.
    #[error("device-identity is not a valid ADVSignedDeviceIdentity protobuf")]
    Malformed,
    /// The companion returned details other than the ones the phone issued.
    #[error("device-identity details differ from the ones issued")]
    DetailsChanged,
    /// No device signature, or not 64 bytes.
    #[error("device signature missing or not 64 bytes")]
    SignatureShape,
    /// The device signature does not verify with the companion's identity key.
    #[error("device signature does not verify")]
    BadSignature,
}

/// Builds and signs the device identity for a companion with identity key `companion_identity`,
/// as the phone with `account` key does when it scans the companion's QR code.
pub fn issue_identity(
    account: &KeyPair,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
    key_index: u32,
    now: u64,
    rng: &mut impl CryptoRngCore,
) -> IssuedIdentity {
    let mut raw_id = [0u8; 4];
    rng.fill_bytes(&mut raw_id);
    let details = AdvDeviceIdentity {
        raw_id: Some(u32::from_be_bytes(raw_id)),
        timestamp: Some(now),
        key_index: Some(key_index),
        account_type: Some(0),
        device_type: Some(0),
    }
    .encode_to_vec();
    let account_signature = account.sign(
        &[&ACCOUNT_SIGNATURE_PREFIX[..], &details, companion_identity].concat(),
        rng,
    );
    let signed = AdvSignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(account.public.to_vec()),
        account_signature: Some(account_signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = wa_crypto::hmac_sha256(adv_secret, &signed);
    let hmac_container = AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(hmac.to_vec()),
        account_type: Some(0),
    }
    .encode_to_vec();
    IssuedIdentity {
        hmac_container,
        details,
        account_public: account.public,
        key_index,
    }
}

/// Checks the `ADVSignedDeviceIdentity` a companion returned in `pair-device-sign`: same details
/// as issued, and a device signature that verifies with the companion's identity key.
pub fn verify_device_signature(
    returned: &[u8],
    issued: &IssuedIdentity,
    companion_identity: &[u8; 32],
) -> Result<(), AdvError> {
    let signed = AdvSignedDeviceIdentity::decode(returned).map_err(|_| AdvError::Malformed)?;
    if signed.details() != issued.details.as_slice() {
        return Err(AdvError::DetailsChanged);
    }
    let signature =
        <[u8; 64]>::try_from(signed.device_signature()).map_err(|_| AdvError::SignatureShape)?;
    let message = [
        &DEVICE_SIGNATURE_PREFIX[..],
        &issued.details,
        companion_identity,
        &issued.account_public,
    ]
    .concat();
    if wa_crypto::xeddsa_verify(companion_identity, &message, &signature) {
        Ok(())
    } else {
        Err(AdvError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    /// Plays the companion: checks the container like a client does and returns the signed
    /// identity with the device signature and without the account key.
    fn companion_answer(issued: &IssuedIdentity, identity: &KeyPair, adv: &[u8; 32]) -> Vec<u8> {
        let container =
            AdvSignedDeviceIdentityHmac::decode(issued.hmac_container.as_slice()).unwrap();
        assert_eq!(
            container.hmac(),
            wa_crypto::hmac_sha256(adv, container.details())
        );
        let mut signed = AdvSignedDeviceIdentity::decode(container.details()).unwrap();
        let account_key = <[u8; 32]>::try_from(signed.account_signature_key()).unwrap();
        let account_sig = <[u8; 64]>::try_from(signed.account_signature()).unwrap();
        let msg = [&[6u8, 0][..], signed.details(), &identity.public].concat();
        assert!(wa_crypto::xeddsa_verify(&account_key, &msg, &account_sig));
        let details = AdvDeviceIdentity::decode(signed.details()).unwrap();
        assert!(details.key_index() >= 1);
        device_sign(&mut signed, identity, &identity.public)
    }

    /// Adds the device signature made by `signer` over the message for `identity_public`.
    fn device_sign(
        signed: &mut AdvSignedDeviceIdentity,
        signer: &KeyPair,
        identity_public: &[u8; 32],
    ) -> Vec<u8> {
        let account_key = signed.account_signature_key().to_vec();
        let dev_msg = [
            &[6u8, 1][..],
            signed.details(),
            identity_public,
            &account_key,
        ]
        .concat();
        signed.device_signature = Some(signer.sign(&dev_msg, &mut OsRng).to_vec());
        signed.account_signature_key = None;
        signed.encode_to_vec()
    }

    #[test]
    fn issued_identity_verifies_and_the_companion_signature_is_checked() {
        let account = KeyPair::generate(&mut OsRng);
        let identity = KeyPair::generate(&mut OsRng);
        let adv = [42u8; 32];
        let issued = issue_identity(
            &account,
            &identity.public,
            &adv,
            3,
            1_800_000_000,
            &mut OsRng,
        );
        let answer = companion_answer(&issued, &identity, &adv);
        assert_eq!(
            verify_device_signature(&answer, &issued, &identity.public),
            Ok(())
        );

        // Signed by some other key: refused.
        let intruder = KeyPair::generate(&mut OsRng);
        let container =
            AdvSignedDeviceIdentityHmac::decode(issued.hmac_container.as_slice()).unwrap();
        let mut signed = AdvSignedDeviceIdentity::decode(container.details()).unwrap();
        let forged = device_sign(&mut signed, &intruder, &identity.public);
        assert_eq!(
            verify_device_signature(&forged, &issued, &identity.public),
            Err(AdvError::BadSignature)
        );

        // Details swapped: refused before the signature check.
        let mut changed = AdvSignedDeviceIdentity::decode(answer.as_slice()).unwrap();
        changed.details = Some(vec![1, 2, 3]);
        assert_eq!(
            verify_device_signature(&changed.encode_to_vec(), &issued, &identity.public),
            Err(AdvError::DetailsChanged)
        );
        assert_eq!(
            verify_device_signature(&[0xff, 0xff], &issued, &identity.public),
            Err(AdvError::Malformed)
        );
    }

    #[test]
    fn a_wrong_adv_secret_breaks_the_hmac() {
        let account = KeyPair::generate(&mut OsRng);
        let identity = KeyPair::generate(&mut OsRng);
        let issued = issue_identity(&account, &identity.public, &[1; 32], 1, 5, &mut OsRng);
        let container =
            AdvSignedDeviceIdentityHmac::decode(issued.hmac_container.as_slice()).unwrap();
        assert_ne!(
            container.hmac(),
            wa_crypto::hmac_sha256(&[2; 32], container.details())
        );
    }
}
