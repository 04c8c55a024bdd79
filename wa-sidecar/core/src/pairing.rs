//! QR pairing (fact sheet 4.1, 4.2): the QR string, and the ADV verification of
//! `pair-success` with the signed reply.
//!
//! Prefixes: Baileys `WA_ADV_ACCOUNT_SIG_PREFIX` / `WA_ADV_DEVICE_SIG_PREFIX` /
//! `WA_ADV_HOSTED_*` (`src/Defaults/index.ts`); whatsmeow `AdvAccountSignaturePrefix`,
//! `AdvDeviceSignaturePrefix`, `AdvHostedAccountSignaturePrefix` (`pair.go`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::Message as _;
use rand_core::CryptoRngCore;
use wa_binary::{Jid, Node};
use wa_protos::wa::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};

use crate::device::DeviceState;
use crate::payload::QR_CLIENT_TYPE;

/// The account key signs `06 00 || details || our identity` (E2EE accounts).
pub const ADV_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Our identity key signs `06 01 || details || our identity || account key`.
pub const ADV_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];
/// Hosted accounts: HMAC and account-signature prefix `06 05`.
pub const ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 5];

/// Prefix Baileys and whatsmeow put in front of the QR comma list. We include it: the phone's
/// camera accepts it, and so does every parser that accepts the bare list (whatsapp-rust,
/// the emulator).
pub const QR_URL_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// `https://wa.me/settings/linked_devices#ref,b64(noise pub),b64(identity pub),b64(adv),1`
/// (standard base64 with padding; Baileys `buildPairingQRData`, whatsmeow `makeQRData`).
pub fn qr_string(reference: &str, device: &DeviceState) -> String {
    format!(
        "{QR_URL_PREFIX}{reference},{},{},{},{QR_CLIENT_TYPE}",
        STANDARD.encode(device.noise_key.public),
        STANDARD.encode(device.identity_key.public),
        STANDARD.encode(device.adv_secret),
    )
}

/// Why a `pair-success` was refused; [`PairFailure::code_and_text`] is what goes into the
/// error IQ (whatsmeow `handlePairSuccess` / `sendPairError`). Always the sender's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairFailure {
    /// A required element or field is missing or undecodable.
    #[error("malformed pair-success: {0}")]
    Malformed(&'static str),
    /// The HMAC over the signed identity does not match our ADV secret.
    #[error("device identity HMAC does not match")]
    HmacMismatch,
    /// The account signature does not verify.
    #[error("account signature does not verify")]
    SignatureMismatch,
}

impl PairFailure {
    /// Error IQ code and text: 401 `hmac-mismatch` / `signature-mismatch`, 500
    /// `internal-error` for malformed input (whatsmeow).
    pub fn code_and_text(&self) -> (u16, &'static str) {
        match self {
            PairFailure::Malformed(_) => (500, "internal-error"),
            PairFailure::HmacMismatch => (401, "hmac-mismatch"),
            PairFailure::SignatureMismatch => (401, "signature-mismatch"),
        }
    }
}

/// A verified pairing, ready to store and answer.
#[derive(Debug, Clone)]
pub(crate) struct Paired {
    /// Full `ADVSignedDeviceIdentity` with account key and our device signature (stored).
    pub account: Vec<u8>,
    /// The same without `accountSignatureKey` (sent back in `pair-device-sign`).
    pub reply_identity: Vec<u8>,
    /// `ADVDeviceIdentity.keyIndex`.
    pub key_index: u32,
    /// Our device JID.
    pub jid: Jid,
    /// Our LID, when the server sent one.
    pub lid: Option<Jid>,
    /// Primary's platform name.
    pub platform: String,
}

fn to32(bytes: &[u8], what: &'static str) -> Result<[u8; 32], PairFailure> {
    wa_crypto::public_key_from_wire(bytes).map_err(|_| PairFailure::Malformed(what))
}

/// Verifies the `<pair-success>` element against `device` (HMAC with the ADV secret, XEdDSA
/// account signature over our identity) and signs the device identity with our identity key.
pub(crate) fn verify_pair_success(
    pair_success: &Node,
    device: &DeviceState,
    rng: &mut impl CryptoRngCore,
) -> Result<Paired, PairFailure> {
    let identity_bytes = pair_success
        .child("device-identity")
        .and_then(Node::content_bytes)
        .ok_or(PairFailure::Malformed("no device-identity"))?;
    let device_node = pair_success
        .child("device")
        .ok_or(PairFailure::Malformed("no device element"))?;
    let jid = device_node
        .attr_jid("jid")
        .filter(|j| j.server == wa_binary::DEFAULT_USER_SERVER && !j.user.is_empty())
        .ok_or(PairFailure::Malformed(
            "device jid missing or not a phone JID",
        ))?;
    let lid = device_node.attr_jid("lid");
    let platform = pair_success
        .child("platform")
        .and_then(|p| p.attr_str("name"))
        .map(|s| s.into_owned())
        .unwrap_or_default();

    // Step 1: HMAC container (prefix 06 05 only for hosted accounts).
    let container = AdvSignedDeviceIdentityHmac::decode(identity_bytes).map_err(|_| {
        PairFailure::Malformed("device-identity is not ADVSignedDeviceIdentityHMAC")
    })?;
    let hosted_container = container.account_type == Some(AdvEncryptionType::Hosted as i32);
    let hmac_prefix: &[u8] = if hosted_container {
        &ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        &[]
    };
    let expected =
        wa_crypto::hmac_sha256_parts(&device.adv_secret, &[hmac_prefix, container.details()]);
    if !wa_crypto::ct_eq(&expected, container.hmac()) {
        return Err(PairFailure::HmacMismatch);
    }

    // Step 2: the signed identity and its details.
    let mut signed = AdvSignedDeviceIdentity::decode(container.details())
        .map_err(|_| PairFailure::Malformed("details are not ADVSignedDeviceIdentity"))?;
    let details = AdvDeviceIdentity::decode(signed.details())
        .map_err(|_| PairFailure::Malformed("details are not ADVDeviceIdentity"))?;
    let account_key = to32(signed.account_signature_key(), "account signature key")?;
    let account_sig = <[u8; 64]>::try_from(signed.account_signature())
        .map_err(|_| PairFailure::SignatureMismatch)?;

    // Step 3: account signature; hosted prefix chosen from deviceType as whatsmeow and Baileys do.
    let account_prefix = if details.device_type == Some(AdvEncryptionType::Hosted as i32) {
        ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        ADV_ACCOUNT_SIGNATURE_PREFIX
    };
    let identity_pub = device.identity_key.public;
    let message = [&account_prefix[..], signed.details(), &identity_pub].concat();
    if !wa_crypto::xeddsa_verify(&account_key, &message, &account_sig) {
        return Err(PairFailure::SignatureMismatch);
    }

    // Step 4: our device signature (06 01 in whatsmeow and Baileys, hosted or not).
    let device_message = [
        &ADV_DEVICE_SIGNATURE_PREFIX[..],
        signed.details(),
        &identity_pub,
        &account_key,
    ]
    .concat();
    signed.device_signature = Some(device.identity_key.sign(&device_message, rng).to_vec());
    let account = signed.encode_to_vec();
    signed.account_signature_key = None;
    let reply_identity = signed.encode_to_vec();

    Ok(Paired {
        account,
        reply_identity,
        key_index: details.key_index(),
        jid,
        lid,
        platform,
    })
}

/// `<iq to type="result" id><pair-device-sign><device-identity key-index>…` (fact sheet 4.2
/// step 6).
pub(crate) fn pair_device_sign(request: &Node, paired: &Paired) -> Node {
    crate::stanza::iq_result_for(
        request,
        vec![Node::new("pair-device-sign").children(vec![
                Node::new("device-identity")
                    .attr("key-index", paired.key_index)
                    .bytes(paired.reply_identity.clone()),
            ])],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn qr_string_has_prefix_and_five_fields() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let d = DeviceState::generate(&mut rng);
        let qr = qr_string("2@abc", &d);
        let body = qr.strip_prefix(QR_URL_PREFIX).unwrap();
        let fields: Vec<&str> = body.split(',').collect();
        assert_eq!(fields.len(), 5);
        assert_eq!(fields[0], "2@abc");
        assert_eq!(STANDARD.decode(fields[1]).unwrap(), d.noise_key.public);
        assert_eq!(STANDARD.decode(fields[2]).unwrap(), d.identity_key.public);
        assert_eq!(STANDARD.decode(fields[3]).unwrap(), d.adv_secret);
        assert_eq!(fields[4], "1");
    }
}
