//! The server certificate chain carried (encrypted) in ServerHello: verification on the client,
//! and a builder for the emulator.
//!
//! Checks follow whatsmeow `handshake.go` (`verifyServerCert`, `checkCertValidity`), the strictest
//! of the three reference clients (fact sheet section 1.4): intermediate signed by the root with
//! XEdDSA, intermediate issuerSerial 0 and a 32-byte key, leaf signed by the intermediate key,
//! leaf issuerSerial equal to intermediate serial, leaf key equal to the decrypted server static
//! key (constant time), and both certificates within their validity window.

use prost::Message;
use rand_core::CryptoRngCore;
use wa_crypto::{KeyPair, ct_eq, xeddsa_verify};
use wa_protos::wa::CertChain;
use wa_protos::wa::cert_chain::NoiseCertificate;
use wa_protos::wa::cert_chain::noise_certificate::Details;

/// WhatsApp's long-term root ("WhatsAppLongTerm1") Curve25519 public key. Sources: whatsmeow
/// `handshake.go` `WACertPubKey`; Baileys `src/Defaults/index.ts` `WA_CERT_DETAILS.PUBLIC_KEY`;
/// whatsapp-rust `wacore/noise/src/handshake.rs` `WA_CERT_PUB_KEY`.
pub const WHATSAPP_ROOT_PUBLIC_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// Serial of the root that issues the intermediate (whatsmeow `WACertIssuerSerial = 0`).
pub const ROOT_SERIAL: u32 = 0;

/// Which root key the client trusts for the server certificate chain.
#[derive(Clone, PartialEq, Eq)]
pub struct CertPolicy {
    root_public_key: [u8; 32],
}

impl CertPolicy {
    /// Trusts only WhatsApp's real root key ([`WHATSAPP_ROOT_PUBLIC_KEY`]).
    pub fn whatsapp() -> Self {
        Self {
            root_public_key: WHATSAPP_ROOT_PUBLIC_KEY,
        }
    }

    /// DANGER: trusts another root key. Only for tests and a local emulator; a client built with
    /// this policy accepts any server that holds the matching private key.
    pub fn danger_trust_root(root_public_key: [u8; 32]) -> Self {
        Self { root_public_key }
    }

    /// The trusted root public key.
    pub fn root_public_key(&self) -> &[u8; 32] {
        &self.root_public_key
    }

    /// Whether this policy trusts WhatsApp's real root.
    pub fn is_whatsapp(&self) -> bool {
        self.root_public_key == WHATSAPP_ROOT_PUBLIC_KEY
    }
}

impl std::fmt::Debug for CertPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_whatsapp() {
            f.write_str("CertPolicy::whatsapp()")
        } else {
            write!(
                f,
                "CertPolicy::danger_trust_root({:02x?})",
                self.root_public_key
            )
        }
    }
}

/// Which certificate of the chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRole {
    /// The intermediate, signed by the root.
    Intermediate,
    /// The leaf, signed by the intermediate, naming the server's static key.
    Leaf,
}

/// Why the server's certificate chain was refused. Every variant is the server's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The chain bytes or a certificate is not decodable or lacks a required field.
    #[error("malformed certificate chain: {0}")]
    Malformed(&'static str),
    /// The intermediate is not signed by the trusted root.
    #[error("intermediate certificate signature does not verify under the trusted root")]
    IntermediateSignature,
    /// The intermediate names an issuer other than the root (serial 0).
    #[error("intermediate certificate issuer serial {0} is not the root's (0)")]
    IntermediateIssuer(u32),
    /// The intermediate's key is not 32 bytes.
    #[error("intermediate certificate key is {0} bytes, expected 32")]
    IntermediateKeyLength(usize),
    /// The leaf is not signed by the intermediate's key.
    #[error("leaf certificate signature does not verify under the intermediate key")]
    LeafSignature,
    /// leaf.issuerSerial differs from intermediate.serial.
    #[error("leaf issuer serial {leaf_issuer} does not match intermediate serial {intermediate}")]
    SerialLink {
        /// leaf.issuerSerial.
        leaf_issuer: u32,
        /// intermediate.serial.
        intermediate: u32,
    },
    /// The leaf's key is not the static key the server proved it holds in this handshake.
    #[error("leaf certificate key does not match the server's static key")]
    LeafKeyMismatch,
    /// `now` is after notAfter.
    #[error("{0:?} certificate expired")]
    Expired(CertRole),
    /// `now` is before notBefore.
    #[error("{0:?} certificate is not yet valid")]
    NotYetValid(CertRole),
}

/// The decoded fields of one verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// This certificate's serial.
    pub serial: u32,
    /// The issuer's serial.
    pub issuer_serial: u32,
    /// The certified public key (32 bytes).
    pub key: [u8; 32],
    /// Start of validity, unix seconds.
    pub not_before: u64,
    /// End of validity, unix seconds.
    pub not_after: u64,
}

/// A verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The intermediate certificate.
    pub intermediate: CertInfo,
    /// The leaf certificate (its key is the server's static key).
    pub leaf: CertInfo,
}

struct Parsed {
    details_bytes: Vec<u8>,
    signature: [u8; 64],
    details: Details,
}

fn parse(cert: Option<NoiseCertificate>, what: &'static str) -> Result<Parsed, CertError> {
    let cert = cert.ok_or(CertError::Malformed(what))?;
    let details_bytes = cert
        .details
        .ok_or(CertError::Malformed("certificate without details"))?;
    let signature = cert
        .signature
        .ok_or(CertError::Malformed("certificate without signature"))?;
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| CertError::Malformed("signature is not 64 bytes"))?;
    let details = Details::decode(details_bytes.as_slice())
        .map_err(|_| CertError::Malformed("undecodable certificate details"))?;
    Ok(Parsed {
        details_bytes,
        signature,
        details,
    })
}

fn info(details: &Details, key: [u8; 32]) -> CertInfo {
    CertInfo {
        serial: details.serial(),
        issuer_serial: details.issuer_serial(),
        key,
        not_before: details.not_before(),
        not_after: details.not_after(),
    }
}

fn check_validity(cert: &CertInfo, role: CertRole, now: u64) -> Result<(), CertError> {
    if now < cert.not_before {
        return Err(CertError::NotYetValid(role));
    }
    if now > cert.not_after {
        return Err(CertError::Expired(role));
    }
    Ok(())
}

/// Verifies the serialized `CertChain` against `policy`, binding its leaf to `server_static`
/// (the static key decrypted from the same ServerHello) and checking validity at `now`.
pub fn verify_cert_chain(
    chain: &[u8],
    server_static: &[u8; 32],
    now: u64,
    policy: &CertPolicy,
) -> Result<VerifiedChain, CertError> {
    let chain = CertChain::decode(chain).map_err(|_| CertError::Malformed("undecodable chain"))?;
    let intermediate = parse(chain.intermediate, "missing intermediate certificate")?;
    let leaf = parse(chain.leaf, "missing leaf certificate")?;

    if !xeddsa_verify(
        policy.root_public_key(),
        &intermediate.details_bytes,
        &intermediate.signature,
    ) {
        return Err(CertError::IntermediateSignature);
    }
    let issuer = intermediate.details.issuer_serial();
    if issuer != ROOT_SERIAL {
        return Err(CertError::IntermediateIssuer(issuer));
    }
    let key = intermediate.details.key();
    let intermediate_key: [u8; 32] = key
        .try_into()
        .map_err(|_| CertError::IntermediateKeyLength(key.len()))?;

    if !xeddsa_verify(&intermediate_key, &leaf.details_bytes, &leaf.signature) {
        return Err(CertError::LeafSignature);
    }
    let (leaf_issuer, intermediate_serial) =
        (leaf.details.issuer_serial(), intermediate.details.serial());
    if leaf_issuer != intermediate_serial {
        return Err(CertError::SerialLink {
            leaf_issuer,
            intermediate: intermediate_serial,
        });
    }
    if !ct_eq(leaf.details.key(), server_static) {
        return Err(CertError::LeafKeyMismatch);
    }

    let intermediate = info(&intermediate.details, intermediate_key);
    let leaf = info(&leaf.details, *server_static);
    check_validity(&intermediate, CertRole::Intermediate, now)?;
    check_validity(&leaf, CertRole::Leaf, now)?;
    Ok(VerifiedChain { intermediate, leaf })
}

/// Serials for [`build_cert_chain`]. The intermediate's issuer is always the root (0) and the
/// leaf's issuer is the intermediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertSerials {
    /// Serial of the intermediate certificate.
    pub intermediate: u32,
    /// Serial of the leaf certificate.
    pub leaf: u32,
}

/// Validity window, unix seconds, applied to both certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First valid second.
    pub not_before: u64,
    /// Last valid second.
    pub not_after: u64,
}

/// Serializes certificate details and signs them with `signer` (XEdDSA).
pub fn sign_certificate(
    details: &Details,
    signer: &KeyPair,
    rng: &mut impl CryptoRngCore,
) -> NoiseCertificate {
    let details_bytes = details.encode_to_vec();
    let signature = signer.sign(&details_bytes, rng);
    NoiseCertificate {
        details: Some(details_bytes),
        signature: Some(signature.to_vec()),
    }
}

/// Builds a properly signed chain (for the emulator): `root` signs the intermediate, whose key is
/// `intermediate.public`; `intermediate` signs the leaf, whose key is `server_static_public`.
/// Returns the serialized `CertChain`.
pub fn build_cert_chain(
    root: &KeyPair,
    intermediate: &KeyPair,
    server_static_public: &[u8; 32],
    serials: CertSerials,
    validity: Validity,
    rng: &mut impl CryptoRngCore,
) -> Vec<u8> {
    let intermediate_details = Details {
        serial: Some(serials.intermediate),
        issuer_serial: Some(ROOT_SERIAL),
        key: Some(intermediate.public.to_vec()),
        not_before: Some(validity.not_before),
        not_after: Some(validity.not_after),
    };
    let leaf_details = Details {
        serial: Some(serials.leaf),
        issuer_serial: Some(serials.intermediate),
        key: Some(server_static_public.to_vec()),
        not_before: Some(validity.not_before),
        not_after: Some(validity.not_after),
    };
    CertChain {
        intermediate: Some(sign_certificate(&intermediate_details, root, rng)),
        leaf: Some(sign_certificate(&leaf_details, intermediate, rng)),
    }
    .encode_to_vec()
}
