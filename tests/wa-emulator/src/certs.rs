//! The emulator's own Noise certificate chain: a root key pair (generated or from a seed), an
//! intermediate certificate signed by the root and a leaf certificate signed by the intermediate,
//! both with real XEdDSA signatures.
//!
//! Shape and rules (fact sheet §1.4; whatsmeow `handshake.go` `verifyServerCert`, whatsapp-rust
//! `wacore/noise/src/handshake.rs` `verify_server_cert`, Baileys `src/Utils/noise-handler.ts`):
//! intermediate.issuerSerial = 0 (the root's serial), leaf.issuerSerial = intermediate.serial,
//! leaf.key = the server's Noise static public key, validity windows around "now".

use rand_core::CryptoRngCore;
use wa_crypto::KeyPair;
use wa_noise::{CertSerials, Validity};

/// Serial of the root ("WhatsAppLongTerm1" is serial 0 in all clients).
pub const ROOT_SERIAL: u32 = 0;
/// Serial given to the emulator's intermediate certificate.
pub const INTERMEDIATE_SERIAL: u32 = 1;
/// Serial given to the emulator's leaf certificate.
pub const LEAF_SERIAL: u32 = 2;
/// How far before "now" the certificates become valid (seconds).
pub const VALID_BEFORE_SECS: u64 = 24 * 3600;
/// How long after "now" the certificates stay valid (seconds).
pub const VALID_AFTER_SECS: u64 = 365 * 24 * 3600;

/// The emulator's keys and the serialized chain it sends in every ServerHello.
pub struct ServerIdentity {
    /// The root key pair; clients must be told to trust `root.public`.
    pub root: KeyPair,
    /// The intermediate key pair.
    pub intermediate: KeyPair,
    /// The server's Noise static key pair (the leaf certificate's key).
    pub noise_static: KeyPair,
    /// The encoded `CertChain` protobuf.
    pub chain: Vec<u8>,
}

impl ServerIdentity {
    /// Builds a fresh identity. With `root_seed` the root key pair is derived from it (so the
    /// root public key is stable across runs); otherwise it is random. `now` is Unix seconds.
    pub fn generate(root_seed: Option<[u8; 32]>, now: u64, rng: &mut impl CryptoRngCore) -> Self {
        let root = match root_seed {
            Some(seed) => KeyPair::from_private(clamp(seed)),
            None => KeyPair::generate(rng),
        };
        let intermediate = KeyPair::generate(rng);
        let noise_static = KeyPair::generate(rng);
        let chain = wa_noise::build_cert_chain(
            &root,
            &intermediate,
            &noise_static.public,
            CertSerials {
                intermediate: INTERMEDIATE_SERIAL,
                leaf: LEAF_SERIAL,
            },
            Validity {
                not_before: now.saturating_sub(VALID_BEFORE_SECS),
                not_after: now.saturating_add(VALID_AFTER_SECS),
            },
            rng,
        );
        Self {
            root,
            intermediate,
            noise_static,
            chain,
        }
    }

    /// The root public key as lowercase hex (what `WA_DANGER_TRUST_ROOT_KEY` takes).
    pub fn root_public_hex(&self) -> String {
        hex::encode(self.root.public)
    }
}

/// Curve25519 private-key clamping, so a seed of any value makes a valid scalar.
fn clamp(mut k: [u8; 32]) -> [u8; 32] {
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use rand::rngs::OsRng;
    use wa_noise::{CertError, CertPolicy, verify_cert_chain};
    use wa_protos::wa::CertChain;
    use wa_protos::wa::cert_chain::NoiseCertificate;
    use wa_protos::wa::cert_chain::noise_certificate::Details;

    fn decode(cert: &NoiseCertificate) -> Details {
        Details::decode(cert.details()).unwrap()
    }

    #[test]
    fn chain_links_serials_binds_the_static_key_and_is_signed_for_real() {
        let now = 1_800_000_000;
        let id = ServerIdentity::generate(None, now, &mut OsRng);
        let chain = CertChain::decode(id.chain.as_slice()).unwrap();
        let inter = chain.intermediate.unwrap();
        let leaf = chain.leaf.unwrap();
        let (di, dl) = (decode(&inter), decode(&leaf));
        assert_eq!(di.issuer_serial(), ROOT_SERIAL);
        assert_eq!(dl.issuer_serial(), di.serial());
        assert_eq!(dl.key(), id.noise_static.public);
        assert_eq!(di.key(), id.intermediate.public);
        assert!(di.not_before() < now && now < di.not_after());
        assert!(dl.not_before() < now && now < dl.not_after());
        let sig = |c: &NoiseCertificate| <[u8; 64]>::try_from(c.signature()).unwrap();
        assert!(wa_crypto::xeddsa_verify(
            &id.root.public,
            inter.details(),
            &sig(&inter)
        ));
        assert!(wa_crypto::xeddsa_verify(
            &id.intermediate.public,
            leaf.details(),
            &sig(&leaf)
        ));
        // The leaf is not signed by the root directly.
        assert!(!wa_crypto::xeddsa_verify(
            &id.root.public,
            leaf.details(),
            &sig(&leaf)
        ));
    }

    #[test]
    fn chain_passes_the_clients_verifier_only_with_the_emulator_root() {
        let now = 1_800_000_000;
        let id = ServerIdentity::generate(None, now, &mut OsRng);
        let trusted = CertPolicy::danger_trust_root(id.root.public);
        let verified =
            verify_cert_chain(&id.chain, &id.noise_static.public, now, &trusted).unwrap();
        assert_eq!(verified.leaf.key, id.noise_static.public);
        // Against WhatsApp's real root it must fail: the signatures are real, not placeholders.
        assert_eq!(
            verify_cert_chain(
                &id.chain,
                &id.noise_static.public,
                now,
                &CertPolicy::whatsapp()
            )
            .unwrap_err(),
            CertError::IntermediateSignature
        );
        // Bound to our static key: another key is refused.
        assert_eq!(
            verify_cert_chain(&id.chain, &[9; 32], now, &trusted).unwrap_err(),
            CertError::LeafKeyMismatch
        );
        // The validity window surrounds "now", not forever.
        assert!(
            verify_cert_chain(
                &id.chain,
                &id.noise_static.public,
                now + 2 * VALID_AFTER_SECS,
                &trusted
            )
            .is_err()
        );
    }

    #[test]
    fn a_seed_gives_a_stable_root_key() {
        let a = ServerIdentity::generate(Some([7; 32]), 1, &mut OsRng);
        let b = ServerIdentity::generate(Some([7; 32]), 1, &mut OsRng);
        assert_eq!(a.root_public_hex(), b.root_public_hex());
        assert_ne!(a.noise_static.public, b.noise_static.public);
    }
}
