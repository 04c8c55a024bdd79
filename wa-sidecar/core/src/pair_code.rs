//! Phone-number pairing ("link code", fact sheet 4.3): the 8-character code, the phone number
//! it is requested for, the code-wrapped ephemeral keys, the key bundle of `companion_finish`
//! and the ADV secret derived from it, and the stanzas of both stages.
//!
//! Wire facts (constants, labels, layouts) from whatsmeow `pair-code.go`
//! (`generateCompanionEphemeralKey`, `PairPhone`, `handleCodePairNotification`), Baileys
//! `requestPairingCode` / `generatePairingKey` (`src/Socket/socket.ts`) and the
//! `link_code_companion_reg` case of `src/Socket/messages-recv.ts`, and whatsapp-rust
//! `wacore/src/pair_code.rs`. The connection side lives in `pair_code_conn.rs`.

use rand_core::CryptoRngCore;
use wa_binary::{Jid, Node};
use wa_crypto::KeyPair;

use crate::stanza;

/// The code alphabet: Crockford-style base32 without 0, I, O, U (whatsmeow `linkingBase32`,
/// Baileys `CROCKFORD_CHARACTERS`, whatsapp-rust `CROCKFORD_ALPHABET`).
pub const CODE_ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
/// Characters in a code (5 random bytes, 40 bits, 5 bits per character).
pub const CODE_LEN: usize = 8;
/// PBKDF2-SHA256 rounds for the code key: `2 << 16` (whatsmeow, Baileys) = 131 072.
pub const CODE_KEY_ROUNDS: u32 = 2 << 16;
/// A wrapped ephemeral key: salt (32) || iv (16) || AES-256-CTR(public key) (32).
pub const WRAPPED_KEY_LEN: usize = 80;
/// HKDF info of the key-bundle encryption key (all three clients).
pub const BUNDLE_KEY_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
/// HKDF info of the ADV secret derived at `companion_finish` (all three clients).
pub const ADV_SECRET_INFO: &[u8] = b"adv_secret";
/// `companion_platform_id`: "1" = Chrome, the platform we register as (agrees with
/// [`crate::payload::QR_CLIENT_TYPE`]; whatsmeow `PairClientChrome`).
pub const PLATFORM_ID: &str = "1";
/// `companion_platform_display`, `Browser (OS)`: the server only accepts common browsers and
/// systems (whatsmeow `PairPhone` doc; whatsapp-rust `companion_platform_display`).
pub const PLATFORM_DISPLAY: &str = "Chrome (Linux)";
/// How many `primary_hello` notifications one code answers (WA Web's limit, per whatsapp-rust
/// `PAIR_CODE_MAX_PRIMARY_HELLO_ATTEMPTS`); later ones are ignored.
pub const MAX_PRIMARY_HELLOS: u32 = 3;

/// E.164 allows at most 15 digits; real numbers have at least 7 (whatsapp-rust refuses fewer).
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// A phone number in international format, digits only (country code first, no `+`, no
/// leading zero): the account the code is requested for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

/// Why a phone number was refused (the user's input is wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but separators.
    #[error("the phone number is empty")]
    Empty,
    /// A character other than digits, a leading `+`, spaces, `-`, `.`, `(` and `)`.
    #[error("the phone number contains {0:?}; use digits only, country code first")]
    BadCharacter(char),
    /// Fewer than 7 or more than 15 digits.
    #[error("the phone number has {0} digits; an international number has 7 to 15")]
    Length(usize),
    /// Starts with 0: a national number without its country code.
    #[error("the phone number starts with 0; give it in international format, country code first")]
    LeadingZero,
}

impl PhoneNumber {
    /// Parses `+972 50-123-4567`, `972501234567`, ...: separators (spaces, `-`, `.`, `(`, `)`)
    /// and one leading `+` are dropped; what remains must be 7 to 15 digits, not starting
    /// with 0.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let mut digits = String::with_capacity(body.len());
        for c in body.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                other => return Err(PhoneError::BadCharacter(other)),
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        if digits.starts_with('0') {
            return Err(PhoneError::LeadingZero);
        }
        if !PHONE_DIGITS.contains(&digits.len()) {
            return Err(PhoneError::Length(digits.len()));
        }
        Ok(PhoneNumber(digits))
    }

    /// The digits.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// `<digits>@s.whatsapp.net`, the `jid` of `link_code_companion_reg`.
    pub fn jid(&self) -> Jid {
        Jid::new(self.0.clone(), wa_binary::DEFAULT_USER_SERVER)
    }
}

impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// Why a pairing-code step failed. The server's (or phone's) fault unless noted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairCodeError {
    /// A wrapped ephemeral key is not 80 bytes.
    #[error("wrapped ephemeral key is {0} bytes, expected 80")]
    WrappedLength(usize),
    /// A required element of the notification is missing or empty.
    #[error("link-code notification lacks <{0}>")]
    Missing(&'static str),
    /// The primary's identity key is not a 32-byte (or 0x05-prefixed) key.
    #[error("primary identity key is malformed")]
    PrimaryIdentity,
    /// The notification is for another stage than `primary_hello`.
    #[error("unsupported link-code stage {0:?}")]
    Stage(String),
    /// The notification's ref is not the one the server gave our `companion_hello`.
    #[error("link-code notification carries a ref other than ours")]
    RefMismatch,
    /// A Diffie-Hellman result is all zeros: a low-order key, or a code typed wrongly into
    /// the phone.
    #[error("key agreement with the primary's {0} key failed (low-order key)")]
    LowOrderKey(&'static str),
    /// The key bundle does not decrypt: the primary used another code (emulator/tests).
    #[error("key bundle does not decrypt (wrong code)")]
    BundleAuthentication,
    /// The decrypted key bundle is not identity (32) || primary identity (32) || random (32).
    #[error("key bundle is {0} bytes, expected 96")]
    BundleLength(usize),
}

/// Encodes 5 bytes as 8 characters of [`CODE_ALPHABET`], 5 bits each, most significant first
/// (RFC 4648 base32 bit order, as Go's `base32.NewEncoding` and Baileys `bytesToCrockford`).
pub fn encode_code(bytes: [u8; 5]) -> String {
    let value = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    (0..CODE_LEN)
        .rev()
        .map(|i| char::from(CODE_ALPHABET[((value >> (i * 5)) & 0x1f) as usize]))
        .collect()
}

/// A fresh code from 5 random bytes.
pub fn generate_code(rng: &mut impl CryptoRngCore) -> String {
    let mut bytes = [0u8; 5];
    rng.fill_bytes(&mut bytes);
    encode_code(bytes)
}

/// `ABCDEFGH` → `ABCD-EFGH`, as whatsmeow returns it and the phone shows it.
pub fn display_code(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) if !b.is_empty() => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

/// What a person typed (`abcd-efgh`, `ABCD EFGH`) as the 8-character code, or `None` when it
/// is not 8 characters of the alphabet once `-` and spaces are dropped and letters uppercased.
pub fn normalize_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// PBKDF2-SHA256(code, salt, [`CODE_KEY_ROUNDS`]) → the AES-256-CTR key that wraps an
/// ephemeral key. The code is the 8 characters without the dash.
pub fn code_key(code: &str, salt: &[u8]) -> [u8; 32] {
    wa_crypto::pbkdf2_sha256(code.as_bytes(), salt, CODE_KEY_ROUNDS)
}

/// `salt || iv || AES-256-CTR(code_key(code, salt), iv, public)`.
pub fn wrap_ephemeral(
    code: &str,
    public: &[u8; 32],
    salt: &[u8; 32],
    iv: &[u8; 16],
) -> [u8; WRAPPED_KEY_LEN] {
    let mut out = [0u8; WRAPPED_KEY_LEN];
    out[..32].copy_from_slice(salt);
    out[32..48].copy_from_slice(iv);
    out[48..].copy_from_slice(public);
    wa_crypto::aes256_ctr_apply(&code_key(code, salt), iv, &mut out[48..]);
    out
}

/// Reverses [`wrap_ephemeral`]. CTR has no integrity: a wrong code yields a wrong key, which
/// only the key bundle's AES-GCM check at the other end reveals.
pub fn unwrap_ephemeral(code: &str, wrapped: &[u8]) -> Result<[u8; 32], PairCodeError> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(PairCodeError::WrappedLength(wrapped.len()));
    }
    let (salt, rest) = wrapped.split_at(32);
    let (iv, ciphertext) = rest.split_at(16);
    let mut iv16 = [0u8; 16];
    iv16.copy_from_slice(iv);
    let mut public = [0u8; 32];
    public.copy_from_slice(ciphertext);
    wa_crypto::aes256_ctr_apply(&code_key(code, salt), &iv16, &mut public);
    Ok(public)
}

/// The random inputs of `companion_finish` (drawn from the rng; fixed in tests).
#[derive(Clone, PartialEq, Eq)]
pub struct FinishRandom {
    /// Mixed into the ADV secret and sent (encrypted) to the primary.
    pub adv_random: [u8; 32],
    /// HKDF salt of the bundle key.
    pub bundle_salt: [u8; 32],
    /// AES-GCM nonce of the bundle.
    pub bundle_nonce: [u8; 12],
}

impl FinishRandom {
    /// Draws all three from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut r = FinishRandom {
            adv_random: [0; 32],
            bundle_salt: [0; 32],
            bundle_nonce: [0; 12],
        };
        rng.fill_bytes(&mut r.adv_random);
        rng.fill_bytes(&mut r.bundle_salt);
        rng.fill_bytes(&mut r.bundle_nonce);
        r
    }
}

/// What the companion sends at `companion_finish` and keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct CompanionFinish {
    /// `link_code_pairing_wrapped_key_bundle`: salt (32) || nonce (12) ||
    /// AES-256-GCM(identity || primary identity || adv random) (96 + 16).
    pub wrapped_bundle: Vec<u8>,
    /// The new ADV secret (replaces the stored one; pair-success's HMAC key).
    pub adv_secret: [u8; 32],
}

impl std::fmt::Debug for CompanionFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompanionFinish")
            .field("wrapped_bundle", &self.wrapped_bundle.len())
            .field("adv_secret", &"<redacted>")
            .finish()
    }
}

/// The companion's half of the key agreement (whatsmeow `handleCodePairNotification`):
/// * `shared = X25519(ephemeral, primary_ephemeral)`;
/// * bundle key = HKDF(shared, salt = bundle salt, [`BUNDLE_KEY_INFO`], 32);
/// * ADV secret = HKDF(shared || X25519(identity, primary_identity) || adv random, no salt,
///   [`ADV_SECRET_INFO`], 32).
pub fn companion_finish(
    ephemeral: &KeyPair,
    primary_ephemeral: &[u8; 32],
    identity: &KeyPair,
    primary_identity: &[u8; 32],
    random: &FinishRandom,
) -> Result<CompanionFinish, PairCodeError> {
    let shared = ephemeral.dh(primary_ephemeral);
    if shared == [0; 32] {
        return Err(PairCodeError::LowOrderKey("ephemeral"));
    }
    let identity_shared = identity.dh(primary_identity);
    if identity_shared == [0; 32] {
        return Err(PairCodeError::LowOrderKey("identity"));
    }
    let bundle_key = hkdf32(&random.bundle_salt, &shared, BUNDLE_KEY_INFO);
    let plaintext = [
        &identity.public[..],
        &primary_identity[..],
        &random.adv_random[..],
    ]
    .concat();
    let sealed = wa_crypto::aes256_gcm_seal(&bundle_key, &random.bundle_nonce, &[], &plaintext)
        .map_err(|_| PairCodeError::BundleLength(plaintext.len()))?;
    let wrapped_bundle = [&random.bundle_salt[..], &random.bundle_nonce[..], &sealed].concat();
    let adv_input = [&shared[..], &identity_shared[..], &random.adv_random[..]].concat();
    Ok(CompanionFinish {
        wrapped_bundle,
        adv_secret: hkdf32(&[], &adv_input, ADV_SECRET_INFO),
    })
}

/// HKDF-SHA256 to 32 bytes (32 is always within HKDF's limit).
fn hkdf32(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(bytes) = wa_crypto::hkdf_sha256(salt, ikm, info, 32) {
        out.copy_from_slice(&bytes);
    }
    out
}

/// `<iq xmlns="md" type="set" to><link_code_companion_reg jid stage="companion_hello"
/// should_show_push_notification="true">` with the wrapped ephemeral key, our Noise key, the
/// platform id and display, and the nonce byte `0x00` (whatsmeow and whatsapp-rust send
/// `[0]`; Baileys sends the string "0").
pub fn companion_hello_iq(
    phone: &PhoneNumber,
    wrapped_ephemeral: &[u8; WRAPPED_KEY_LEN],
    noise_public: &[u8; 32],
) -> Node {
    stanza::iq(
        "md",
        "set",
        vec![
            Node::new("link_code_companion_reg")
                .attr("jid", phone.jid())
                .attr("stage", "companion_hello")
                .attr("should_show_push_notification", "true")
                .children(vec![
                    Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                        .bytes(wrapped_ephemeral.to_vec()),
                    Node::new("companion_server_auth_key_pub").bytes(noise_public.to_vec()),
                    Node::new("companion_platform_id").bytes(PLATFORM_ID.as_bytes().to_vec()),
                    Node::new("companion_platform_display")
                        .bytes(PLATFORM_DISPLAY.as_bytes().to_vec()),
                    Node::new("link_code_pairing_nonce").bytes(vec![0]),
                ]),
        ],
    )
}

/// `<iq xmlns="md" type="set" to><link_code_companion_reg jid stage="companion_finish">` with
/// the wrapped key bundle, our identity key and the pairing ref.
pub fn companion_finish_iq(
    phone: &PhoneNumber,
    wrapped_bundle: &[u8],
    identity_public: &[u8; 32],
    reference: &[u8],
) -> Node {
    stanza::iq(
        "md",
        "set",
        vec![
            Node::new("link_code_companion_reg")
                .attr("jid", phone.jid())
                .attr("stage", "companion_finish")
                .children(vec![
                    Node::new("link_code_pairing_wrapped_key_bundle")
                        .bytes(wrapped_bundle.to_vec()),
                    Node::new("companion_identity_public").bytes(identity_public.to_vec()),
                    Node::new("link_code_pairing_ref").bytes(reference.to_vec()),
                ]),
        ],
    )
}

/// The ref in the answer to `companion_hello`
/// (`<iq type="result"><link_code_companion_reg><link_code_pairing_ref>`).
pub fn hello_answer_ref(answer: &Node) -> Option<Vec<u8>> {
    answer
        .child("link_code_companion_reg")?
        .child("link_code_pairing_ref")?
        .content_bytes()
        .filter(|r| !r.is_empty())
        .map(<[u8]>::to_vec)
}

/// What `<notification type="link_code_companion_reg"><link_code_companion_reg
/// stage="primary_hello">` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryHello {
    /// `link_code_pairing_ref`.
    pub reference: Vec<u8>,
    /// `link_code_pairing_wrapped_primary_ephemeral_pub` (80 bytes, checked).
    pub wrapped_ephemeral: Vec<u8>,
    /// `primary_identity_pub`.
    pub primary_identity: [u8; 32],
}

/// Reads the primary's hello from the notification. A missing `stage` is accepted (Baileys
/// and whatsmeow do not read it); any stage other than `primary_hello` is refused.
pub fn parse_primary_hello(notification: &Node) -> Result<PrimaryHello, PairCodeError> {
    let reg = notification
        .child("link_code_companion_reg")
        .ok_or(PairCodeError::Missing("link_code_companion_reg"))?;
    match reg.attr_str("stage") {
        None => {}
        Some(stage) if stage == "primary_hello" => {}
        Some(other) => return Err(PairCodeError::Stage(other.into_owned())),
    }
    let bytes = |tag: &'static str| {
        reg.child(tag)
            .and_then(Node::content_bytes)
            .filter(|b| !b.is_empty())
            .ok_or(PairCodeError::Missing(tag))
    };
    let reference = bytes("link_code_pairing_ref")?.to_vec();
    let wrapped_ephemeral = bytes("link_code_pairing_wrapped_primary_ephemeral_pub")?;
    if wrapped_ephemeral.len() != WRAPPED_KEY_LEN {
        return Err(PairCodeError::WrappedLength(wrapped_ephemeral.len()));
    }
    let primary_identity = wa_crypto::public_key_from_wire(bytes("primary_identity_pub")?)
        .map_err(|_| PairCodeError::PrimaryIdentity)?;
    Ok(PrimaryHello {
        reference,
        wrapped_ephemeral: wrapped_ephemeral.to_vec(),
        primary_identity,
    })
}

#[cfg(test)]
#[path = "pair_code_tests.rs"]
mod tests;
