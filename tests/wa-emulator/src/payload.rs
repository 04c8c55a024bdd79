//! Reading the ClientPayload a companion sends in ClientFinish: registration or login.
//!
//! Field meanings: fact sheet §2 (whatsmeow `proto/waWa6/WAWebProtobufsWa6.proto`; Baileys
//! `generateRegistrationNode` / `generateLoginNode` in `src/Utils/validate-connection.ts`).

use prost::Message as _;
use wa_protos::wa::ClientPayload;

use crate::registry::{Registration, SignedPreKey};
use crate::session::ClientIntent;

/// Why a ClientPayload was refused (the client's fault).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    /// Not a ClientPayload protobuf.
    #[error("ClientPayload does not decode")]
    Malformed,
    /// Neither registration data nor username + device.
    #[error("ClientPayload has neither devicePairingData nor username")]
    NoIntent,
    /// A registration field is missing or has the wrong size.
    #[error("devicePairingData field `{0}` is missing or malformed")]
    Registration(&'static str),
}

/// Decodes `bytes` and says what the client wants. `noise_public` is the client's Noise static
/// key from ClientFinish (stored with a registration).
pub fn read_client_payload(
    bytes: &[u8],
    noise_public: [u8; 32],
) -> Result<ClientIntent, PayloadError> {
    let payload = ClientPayload::decode(bytes).map_err(|_| PayloadError::Malformed)?;
    if let Some(reg) = &payload.device_pairing_data {
        let field = |value: &Option<Vec<u8>>, name: &'static str| {
            value
                .as_deref()
                .filter(|v| !v.is_empty())
                .ok_or(PayloadError::Registration(name))
                .map(<[u8]>::to_vec)
        };
        let regid = field(&reg.e_regid, "eRegid")?;
        let ident = field(&reg.e_ident, "eIdent")?;
        let skey_id = field(&reg.e_skey_id, "eSkeyID")?;
        let skey_val = field(&reg.e_skey_val, "eSkeyVal")?;
        let skey_sig = field(&reg.e_skey_sig, "eSkeySig")?;
        if skey_sig.len() != 64 {
            return Err(PayloadError::Registration("eSkeySig"));
        }
        let registration = Registration {
            noise_public,
            registration_id: be_u32(&regid).ok_or(PayloadError::Registration("eRegid"))?,
            identity_public: wa_crypto::public_key_from_wire(&ident)
                .map_err(|_| PayloadError::Registration("eIdent"))?,
            signed_prekey: SignedPreKey {
                id: be_u32(&skey_id).ok_or(PayloadError::Registration("eSkeyID"))?,
                public: wa_crypto::public_key_from_wire(&skey_val)
                    .map_err(|_| PayloadError::Registration("eSkeyVal"))?,
                signature: skey_sig,
            },
            push_name: payload.push_name.clone().filter(|n| !n.is_empty()),
        };
        return Ok(ClientIntent::Register(registration));
    }
    match payload.username {
        Some(username) => Ok(ClientIntent::Login {
            username,
            device: payload.device.unwrap_or(0),
        }),
        None => Err(PayloadError::NoIntent),
    }
}

fn be_u32(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_protos::wa::client_payload::DevicePairingRegistrationData;

    #[test]
    fn login_payload_gives_username_and_device() {
        let bytes = ClientPayload {
            username: Some(972500000001),
            device: Some(3),
            passive: Some(true),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(
            read_client_payload(&bytes, [0; 32]),
            Ok(ClientIntent::Login {
                username: 972500000001,
                device: 3
            })
        );
    }

    #[test]
    fn registration_payload_is_read_field_by_field() {
        let reg = DevicePairingRegistrationData {
            e_regid: Some(vec![0, 0, 0x30, 0x39]),
            e_keytype: Some(vec![5]),
            e_ident: Some(vec![7; 32]),
            e_skey_id: Some(vec![0, 0, 1]),
            e_skey_val: Some(vec![8; 32]),
            e_skey_sig: Some(vec![9; 64]),
            ..Default::default()
        };
        let bytes = ClientPayload {
            push_name: Some("Shop".into()),
            device_pairing_data: Some(reg.clone()),
            ..Default::default()
        }
        .encode_to_vec();
        let ClientIntent::Register(r) = read_client_payload(&bytes, [1; 32]).unwrap() else {
            panic!("expected a registration");
        };
        assert_eq!(r.registration_id, 12345);
        assert_eq!(r.identity_public, [7; 32]);
        assert_eq!(r.signed_prekey.id, 1);
        assert_eq!(r.noise_public, [1; 32]);
        assert_eq!(r.push_name.as_deref(), Some("Shop"));

        let mut short = reg;
        short.e_skey_sig = Some(vec![9; 63]);
        let bytes = ClientPayload {
            device_pairing_data: Some(short),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(
            read_client_payload(&bytes, [1; 32]),
            Err(PayloadError::Registration("eSkeySig"))
        );
    }

    #[test]
    fn garbage_and_empty_payloads_are_refused() {
        assert_eq!(
            read_client_payload(&[0xff, 0xff, 0xff], [0; 32]),
            Err(PayloadError::Malformed)
        );
        assert_eq!(
            read_client_payload(&[], [0; 32]),
            Err(PayloadError::NoIntent)
        );
    }
}
