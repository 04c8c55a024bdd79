//! Parsing the pairing QR string a companion shows, as the phone's camera would read it.
//!
//! Layout (fact sheet §4.1; Baileys `buildPairingQRData` in `src/Utils/companion-reg-client-utils.ts`,
//! whatsmeow `makeQRData` in `pair.go`, whatsapp-rust `PairUtils::make_qr_data` in `wacore/src/pair.rs`):
//! `[https://wa.me/settings/linked_devices#]ref,base64(noise pub),base64(identity pub),base64(adv secret)[,client type]`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The URL prefix Baileys and whatsmeow put in front of the comma list (whatsapp-rust omits it).
pub const QR_URL_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// The fields of a companion's pairing QR code.
#[derive(Clone, PartialEq, Eq)]
pub struct QrData {
    /// The server-issued ref this code was built from (one of the `pair-device` refs).
    pub reference: String,
    /// The companion's Noise static public key.
    pub noise_public: [u8; 32],
    /// The companion's Signal identity public key.
    pub identity_public: [u8; 32],
    /// The ADV secret: the HMAC key for the pair-success device identity. Only the QR carries it.
    pub adv_secret: [u8; 32],
    /// The one-character companion platform id, when present.
    pub client_type: Option<String>,
}

impl std::fmt::Debug for QrData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrData")
            .field("reference", &self.reference)
            .field("noise_public", &hex::encode(self.noise_public))
            .field("identity_public", &hex::encode(self.identity_public))
            .field("adv_secret", &"<redacted>")
            .field("client_type", &self.client_type)
            .finish()
    }
}

/// Why a QR string was refused (the caller, i.e. the admin client, sent something malformed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrError {
    /// Fewer than four or more than five comma-separated fields.
    #[error("QR string has {0} comma-separated fields, expected 4 or 5")]
    FieldCount(usize),
    /// The ref field is empty.
    #[error("QR ref is empty")]
    EmptyRef,
    /// A key field is not standard base64.
    #[error("QR field `{0}` is not valid base64")]
    Base64(&'static str),
    /// A key field does not decode to 32 bytes.
    #[error("QR field `{field}` is {len} bytes, expected 32")]
    KeyLength {
        /// Which field.
        field: &'static str,
        /// Its decoded length.
        len: usize,
    },
}

/// Parses a QR string with or without the `https://wa.me/...#` prefix.
pub fn parse_qr(qr: &str) -> Result<QrData, QrError> {
    let body = qr.trim();
    let body = body.strip_prefix(QR_URL_PREFIX).unwrap_or(body);
    let fields: Vec<&str> = body.split(',').collect();
    if !(4..=5).contains(&fields.len()) {
        return Err(QrError::FieldCount(fields.len()));
    }
    let reference = fields[0].trim();
    if reference.is_empty() {
        return Err(QrError::EmptyRef);
    }
    Ok(QrData {
        reference: reference.to_owned(),
        noise_public: key32(fields[1], "noise key")?,
        identity_public: key32(fields[2], "identity key")?,
        adv_secret: key32(fields[3], "adv secret")?,
        client_type: fields
            .get(4)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    })
}

fn key32(field: &str, name: &'static str) -> Result<[u8; 32], QrError> {
    let bytes = STANDARD
        .decode(field.trim())
        .map_err(|_| QrError::Base64(name))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| QrError::KeyLength {
        field: name,
        len: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(b: &[u8]) -> String {
        STANDARD.encode(b)
    }

    fn sample(prefix: bool, client: Option<&str>) -> String {
        let mut fields = vec![
            "2@abc+/=".to_owned(),
            b64(&[1u8; 32]),
            b64(&[2u8; 32]),
            b64(&[3u8; 32]),
        ];
        if let Some(c) = client {
            fields.push(c.to_owned());
        }
        let list = fields.join(",");
        if prefix {
            format!("{QR_URL_PREFIX}{list}")
        } else {
            list
        }
    }

    #[test]
    fn parses_baileys_form_with_prefix_and_platform() {
        let qr = parse_qr(&sample(true, Some("1"))).unwrap();
        assert_eq!(qr.reference, "2@abc+/=");
        assert_eq!(qr.noise_public, [1u8; 32]);
        assert_eq!(qr.identity_public, [2u8; 32]);
        assert_eq!(qr.adv_secret, [3u8; 32]);
        assert_eq!(qr.client_type.as_deref(), Some("1"));
    }

    #[test]
    fn parses_bare_and_legacy_four_field_forms() {
        let qr = parse_qr(&sample(false, None)).unwrap();
        assert_eq!(qr.client_type, None);
        assert_eq!(qr.adv_secret, [3u8; 32]);
    }

    #[test]
    fn refuses_malformed_strings() {
        assert_eq!(parse_qr("a,b"), Err(QrError::FieldCount(2)));
        let short = format!("ref,{},{},{}", b64(&[1; 31]), b64(&[2; 32]), b64(&[3; 32]));
        assert_eq!(
            parse_qr(&short),
            Err(QrError::KeyLength {
                field: "noise key",
                len: 31
            })
        );
        let bad = format!("ref,!!!,{},{}", b64(&[2; 32]), b64(&[3; 32]));
        assert_eq!(parse_qr(&bad), Err(QrError::Base64("noise key")));
        let empty = format!(",{},{},{}", b64(&[1; 32]), b64(&[2; 32]), b64(&[3; 32]));
        assert_eq!(parse_qr(&empty), Err(QrError::EmptyRef));
    }

    #[test]
    fn debug_output_hides_the_adv_secret() {
        let qr = parse_qr(&sample(true, None)).unwrap();
        let shown = format!("{qr:?}");
        assert!(!shown.contains(&hex::encode([3u8; 32])));
        assert!(shown.contains("redacted"));
    }
}
