//! Serde helpers: key pairs are stored as their private key, byte arrays as lowercase hex
//! (readable in JSON, compact enough in binary formats).

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
use wa_crypto::KeyPair;

fn from_hex<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    let text = String::deserialize(d)?;
    let bytes = hex::decode(text.as_bytes()).map_err(D::Error::custom)?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| D::Error::custom(format!("expected {N} bytes, got {}", bytes.len())))
}

/// `[u8; N]` as hex.
pub(crate) mod array {
    use super::*;

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        v: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        from_hex(d)
    }
}

/// `Option<Vec<u8>>` as optional hex.
pub(crate) mod opt_bytes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| hex::decode(t.as_bytes()).map_err(D::Error::custom))
            .transpose()
    }
}

/// [`KeyPair`] stored as its private key; the public key is recomputed on load.
pub(crate) mod keypair {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &KeyPair, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v.private))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyPair, D::Error> {
        from_hex::<D, 32>(d).map(KeyPair::from_private)
    }
}
