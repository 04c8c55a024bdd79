//! Pairing by phone number ("link code", fact sheet §4.3), the server's and the primary phone's
//! side:
//! 1. the companion sends `<iq xmlns="md" type="set"><link_code_companion_reg
//!    stage="companion_hello">` with its ephemeral key wrapped under the code; the server
//!    answers with a `link_code_pairing_ref`;
//! 2. the phone's user types the code ([`Session::enter_code`], `POST /admin/pair-code`): the
//!    phone unwraps the companion's ephemeral key with what was typed, makes its own, and the
//!    server sends `<notification type="link_code_companion_reg"><link_code_companion_reg
//!    stage="primary_hello">` with it (wrapped the same way) and the phone's identity key;
//! 3. the companion answers `stage="companion_finish"` with its key bundle, which opens only
//!    if both sides used the same code; the phone derives the same ADV secret and pairing
//!    continues with pair-success exactly as after a QR scan.
//!
//! Facts (labels, layouts, the 2<<16 PBKDF2 rounds, the HKDF infos): whatsmeow `pair-code.go`,
//! Baileys `requestPairingCode` / `generatePairingKey` (`src/Socket/socket.ts`) and the
//! `link_code_companion_reg` case of `src/Socket/messages-recv.ts`, whatsapp-rust
//! `wacore/src/pair_code.rs`; `stage="primary_hello"` as WA Web's
//! `WASmaxInMdPrimaryHelloNotifyCompanionRequest` expects it. The primary's half is written
//! here from those facts on `wa_crypto` primitives, independently of `wa-core`'s companion
//! half, so that each checks the other (and unmodified Baileys checks this one).

use rand_core::CryptoRngCore;
use wa_binary::Node;
use wa_crypto::KeyPair;

use super::{Ctx, Output, PairError, Phase, ScanError, Session, issue_pair_success, new_ref};
use crate::registry::Registration;
use crate::stanzas::{SERVER, attr, id_of, iq_error, iq_result};

/// PBKDF2-SHA256 rounds of the code key (`2 << 16`).
const CODE_KEY_ROUNDS: u32 = 2 << 16;
/// salt (32) || iv (16) || AES-256-CTR(X25519 public key) (32).
const WRAPPED_LEN: usize = 80;
const BUNDLE_KEY_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
const ADV_SECRET_INFO: &[u8] = b"adv_secret";
/// The code alphabet (Crockford-style base32 without 0, I, O, U).
const CODE_ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";

/// A pairing-code request on one unpaired connection.
pub(super) struct LinkCode {
    phone: String,
    wrapped_companion: Vec<u8>,
    reference: String,
    entered: Option<Entered>,
}

/// What the phone holds after its user typed a code, until `companion_finish` arrives.
struct Entered {
    ephemeral: KeyPair,
    /// The companion's ephemeral key as unwrapped with the typed code (garbage when the code
    /// was mistyped).
    companion_ephemeral: [u8; 32],
    account: KeyPair,
}

impl LinkCode {
    /// True while the phone waits for the companion's `companion_finish`.
    pub(super) fn code_entered(&self) -> bool {
        self.entered.is_some()
    }
}

impl Session {
    /// `<iq type="set"><link_code_companion_reg stage=…>` from an unpaired companion.
    pub(super) fn on_link_code_iq<R: CryptoRngCore>(
        &mut self,
        node: &Node,
        ctx: &mut Ctx<'_, R>,
    ) -> Vec<Output> {
        let id = id_of(node);
        let Some(reg) = node.child("link_code_companion_reg") else {
            return Vec::new();
        };
        match attr(reg, "stage").as_str() {
            "companion_hello" => self.on_companion_hello(&id, reg, ctx),
            "companion_finish" => self.on_companion_finish(&id, reg, ctx),
            other => {
                tracing::warn!(stage = other, "unknown link-code stage");
                vec![Output::Send(iq_error(&id, 400, "bad-request"))]
            }
        }
    }

    fn on_companion_hello<R: CryptoRngCore>(
        &mut self,
        id: &str,
        reg: &Node,
        ctx: &mut Ctx<'_, R>,
    ) -> Vec<Output> {
        let Phase::Unpaired {
            registration,
            link_code,
            ..
        } = &mut self.phase
        else {
            return Vec::new();
        };
        let hello = match read_hello(reg, registration) {
            Ok(hello) => hello,
            Err(why) => {
                tracing::warn!(why, "companion_hello refused");
                return vec![Output::Send(iq_error(id, 400, "bad-request"))];
            }
        };
        let (phone, wrapped_companion) = hello;
        let reference = new_ref(&mut ctx.rng);
        tracing::info!(%phone, "companion asked for a pairing code");
        let answer = iq_result(
            id,
            vec![Node::new("link_code_companion_reg").children(vec![
                Node::new("link_code_pairing_ref").bytes(reference.as_bytes().to_vec()),
            ])],
        );
        *link_code = Some(Box::new(LinkCode {
            phone: phone.clone(),
            wrapped_companion,
            reference,
            entered: None,
        }));
        // Known as waiting for a code before the companion can show it.
        vec![Output::LinkCodeRequested { phone }, Output::Send(answer)]
    }

    /// The phone's user typed `code` for account `phone`: the phone answers the companion's
    /// hello with its own (the `primary_hello` notification). The outcome arrives as
    /// [`Output::Paired`]: `Err(PairError::WrongCode)` when the companion's bundle does not
    /// decrypt (the code may be entered again), otherwise once the companion signed the
    /// device identity.
    pub fn enter_code<R: CryptoRngCore>(
        &mut self,
        phone: &str,
        code: &str,
        ctx: &mut Ctx<'_, R>,
    ) -> Result<Vec<Output>, ScanError> {
        let code = normalize_code(code).ok_or(ScanError::BadCode)?;
        let notification_id = self.iq_id();
        let Phase::Unpaired {
            pairing, link_code, ..
        } = &mut self.phase
        else {
            return Err(ScanError::NotUnpaired);
        };
        let lc = link_code
            .as_mut()
            .filter(|lc| lc.phone == phone)
            .ok_or(ScanError::NoCodeRequested)?;
        if pairing.is_some() || lc.entered.is_some() {
            return Err(ScanError::InProgress);
        }
        let account = ctx.registry.account(phone, &mut ctx.rng).key.clone();
        let ephemeral = KeyPair::generate(&mut ctx.rng);
        let companion_ephemeral = unwrap(&code, &lc.wrapped_companion);
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        ctx.rng.fill_bytes(&mut salt);
        ctx.rng.fill_bytes(&mut iv);
        let wrapped = wrap(&code, &ephemeral.public, &salt, &iv);
        let notification = Node::new("notification")
            .attr("from", SERVER)
            .attr("type", "link_code_companion_reg")
            .attr("id", notification_id)
            .attr("t", ctx.now)
            .children(vec![
                Node::new("link_code_companion_reg")
                    .attr("stage", "primary_hello")
                    .children(vec![
                        Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                            .bytes(wrapped.to_vec()),
                        Node::new("primary_identity_pub").bytes(account.public.to_vec()),
                        Node::new("link_code_pairing_ref").bytes(lc.reference.as_bytes().to_vec()),
                    ]),
            ]);
        lc.entered = Some(Entered {
            ephemeral,
            companion_ephemeral,
            account,
        });
        tracing::info!(phone, "the phone's user entered a code; primary_hello sent");
        Ok(vec![Output::Send(notification)])
    }

    fn on_companion_finish<R: CryptoRngCore>(
        &mut self,
        id: &str,
        reg: &Node,
        ctx: &mut Ctx<'_, R>,
    ) -> Vec<Output> {
        let iq_id = self.iq_id();
        let Phase::Unpaired {
            registration,
            pairing,
            link_code,
            ..
        } = &mut self.phase
        else {
            return Vec::new();
        };
        let Some(lc) = link_code.as_mut() else {
            return vec![Output::Send(iq_error(id, 400, "bad-request"))];
        };
        let Some(entered) = lc.entered.take() else {
            tracing::warn!("companion_finish before the phone entered a code");
            return vec![Output::Send(iq_error(id, 400, "bad-request"))];
        };
        let adv_secret = match open_finish(reg, &entered, &lc.reference, registration) {
            Ok(adv) => adv,
            Err(why) => {
                tracing::warn!(%why, "companion_finish refused");
                let (code, text) = match why {
                    PairError::WrongCode => (401, "not-authorized"),
                    _ => (400, "bad-request"),
                };
                return vec![
                    Output::Send(iq_error(id, code, text)),
                    Output::Paired(Err(why)),
                ];
            }
        };
        let phone = lc.phone.clone();
        let (success, pending) =
            match issue_pair_success(registration, &phone, &adv_secret, iq_id, ctx) {
                Ok(issued) => issued,
                Err(e) => {
                    tracing::warn!(%e, "cannot issue the device identity");
                    return vec![Output::Send(iq_error(id, 500, "internal-server-error"))];
                }
            };
        *link_code = None;
        *pairing = Some(Box::new(pending));
        tracing::info!(%phone, "key bundle opened; pair-success follows");
        vec![Output::Send(iq_result(id, vec![])), Output::Send(success)]
    }
}

/// `(phone digits, wrapped ephemeral)` from `companion_hello`, checked against the
/// registration the companion connected with.
fn read_hello(reg: &Node, registration: &Registration) -> Result<(String, Vec<u8>), &'static str> {
    let jid = reg.attr_jid("jid").ok_or("no jid")?;
    if jid.server != wa_binary::DEFAULT_USER_SERVER
        || jid.user.is_empty()
        || !jid.user.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("jid is not a phone number");
    }
    let bytes = |tag| reg.child(tag).and_then(Node::content_bytes);
    let wrapped = bytes("link_code_pairing_wrapped_companion_ephemeral_pub")
        .filter(|w| w.len() == WRAPPED_LEN)
        .ok_or("wrapped companion ephemeral key missing or not 80 bytes")?;
    let noise = bytes("companion_server_auth_key_pub")
        .and_then(|k| wa_crypto::public_key_from_wire(k).ok())
        .ok_or("companion_server_auth_key_pub missing or malformed")?;
    if !wa_crypto::ct_eq(&noise, &registration.noise_public) {
        return Err("companion_server_auth_key_pub is not this connection's noise key");
    }
    let platform_id = bytes("companion_platform_id").unwrap_or_default();
    if platform_id.is_empty() || !platform_id.iter().all(u8::is_ascii_digit) {
        return Err("companion_platform_id missing or not a number");
    }
    // The real server accepts only `Browser (OS)` (whatsmeow `PairPhone` doc).
    let display = bytes("companion_platform_display")
        .and_then(|d| std::str::from_utf8(d).ok())
        .unwrap_or_default();
    match display.split_once(" (") {
        Some((browser, os)) if !browser.is_empty() && os.len() > 1 && os.ends_with(')') => {}
        _ => return Err("companion_platform_display is not `Browser (OS)`"),
    }
    // whatsmeow and whatsapp-rust send the byte 0; Baileys the string "0".
    match bytes("link_code_pairing_nonce") {
        Some([0]) | Some(b"0") => {}
        _ => return Err("link_code_pairing_nonce missing or not 0"),
    }
    Ok((jid.user, wrapped.to_vec()))
}

/// Opens the companion's key bundle; returns the ADV secret both sides now share.
fn open_finish(
    reg: &Node,
    entered: &Entered,
    reference: &str,
    registration: &Registration,
) -> Result<[u8; 32], PairError> {
    let bytes = |tag| reg.child(tag).and_then(Node::content_bytes);
    if bytes("link_code_pairing_ref") != Some(reference.as_bytes()) {
        return Err(PairError::BadFinish("link_code_pairing_ref is not ours"));
    }
    let identity = bytes("companion_identity_public")
        .and_then(|k| wa_crypto::public_key_from_wire(k).ok())
        .ok_or(PairError::BadFinish("companion_identity_public malformed"))?;
    if !wa_crypto::ct_eq(&identity, &registration.identity_public) {
        return Err(PairError::BadFinish(
            "companion_identity_public is not the registered identity",
        ));
    }
    let bundle = bytes("link_code_pairing_wrapped_key_bundle")
        .filter(|b| b.len() >= 32 + 12 + 16)
        .ok_or(PairError::BadFinish("key bundle missing or too short"))?;
    let (salt, rest) = bundle.split_at(32);
    let (nonce, sealed) = rest.split_at(12);
    let shared = entered.ephemeral.dh(&entered.companion_ephemeral);
    let key = hkdf32(salt, &shared, BUNDLE_KEY_INFO);
    let mut nonce12 = [0u8; 12];
    nonce12.copy_from_slice(nonce);
    let plain = wa_crypto::aes256_gcm_open(&key, &nonce12, &[], sealed)
        .map_err(|_| PairError::WrongCode)?;
    // companion identity (32) || primary identity (32) || random (32)
    if plain.len() != 96 {
        return Err(PairError::BadFinish("key bundle is not 96 bytes"));
    }
    if !wa_crypto::ct_eq(&plain[..32], &identity)
        || !wa_crypto::ct_eq(&plain[32..64], &entered.account.public)
    {
        return Err(PairError::BadFinish(
            "key bundle names other identities than the exchange",
        ));
    }
    let identity_shared = entered.account.dh(&identity);
    let ikm = [&shared[..], &identity_shared[..], &plain[64..]].concat();
    Ok(hkdf32(&[], &ikm, ADV_SECRET_INFO))
}

/// `ABCD-efgh` → `ABCDEFGH`; `None` unless 8 characters of the alphabet.
fn normalize_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == 8 && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

fn code_key(code: &str, salt: &[u8]) -> [u8; 32] {
    wa_crypto::pbkdf2_sha256(code.as_bytes(), salt, CODE_KEY_ROUNDS)
}

/// `salt || iv || AES-256-CTR(PBKDF2(code, salt), iv, public)`.
fn wrap(code: &str, public: &[u8; 32], salt: &[u8; 32], iv: &[u8; 16]) -> [u8; WRAPPED_LEN] {
    let mut out = [0u8; WRAPPED_LEN];
    out[..32].copy_from_slice(salt);
    out[32..48].copy_from_slice(iv);
    out[48..].copy_from_slice(public);
    wa_crypto::aes256_ctr_apply(&code_key(code, salt), iv, &mut out[48..]);
    out
}

/// Unwraps an 80-byte wrapped key (length checked by the caller).
fn unwrap(code: &str, wrapped: &[u8]) -> [u8; 32] {
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&wrapped[32..48]);
    let mut public = [0u8; 32];
    public.copy_from_slice(&wrapped[48..WRAPPED_LEN]);
    wa_crypto::aes256_ctr_apply(&code_key(code, &wrapped[..32]), &iv, &mut public);
    public
}

fn hkdf32(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(bytes) = wa_crypto::hkdf_sha256(salt, ikm, info, 32) {
        out.copy_from_slice(&bytes);
    }
    out
}
