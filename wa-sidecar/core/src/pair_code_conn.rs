//! The connection's side of pairing by phone number (fact sheet 4.3): `companion_hello` once
//! the `pair-device` refs arrived (as Baileys applications call `requestPairingCode` after the
//! first QR), the code shown when the server accepted it, the primary's
//! `<notification type="link_code_companion_reg">` answered with `companion_finish`, and the
//! ADV secret replaced so that the ordinary pair-success check (`pairing.rs`) applies.
//!
//! Bad input never changes the device: a notification is fully checked, and the finish bundle
//! computed, before the ADV secret is replaced.

use rand_core::CryptoRngCore;
use wa_binary::Node;
use wa_crypto::KeyPair;

use crate::connection::{Connection, IQ_TIMEOUT_MS, Purpose};
use crate::events::ConnEvent;
use crate::handlers::error_text;
use crate::pair_code::{
    self, FinishRandom, MAX_PRIMARY_HELLOS, PairCodeError, PhoneNumber, companion_finish_iq,
    companion_hello_iq,
};
use crate::stanza::{StreamOutcome, ack_for};

/// A pairing-code attempt on one connection (nothing of it is persisted: the code dies with
/// the connection).
pub(crate) struct PairCodeSession {
    phone: PhoneNumber,
    started: Option<Started>,
}

/// After `companion_hello` was sent.
struct Started {
    /// The code, 8 characters without the dash.
    code: String,
    /// Our ephemeral key pair, wrapped with the code in `companion_hello`.
    ephemeral: KeyPair,
    /// The server's `link_code_pairing_ref` (from the hello answer, or the first notification
    /// when the answer had none, as Baileys reads it).
    reference: Option<Vec<u8>>,
    /// When the refs run out (unix millis).
    expires_at: u64,
    /// Whether [`ConnEvent::PairCode`] was emitted.
    shown: bool,
    /// `primary_hello` notifications answered.
    primary_hellos: u32,
}

impl Connection {
    /// Pair this (unpaired) connection by phone number instead of QR codes: once the server
    /// sends its refs, request a code for `phone` and report it as [`ConnEvent::PairCode`];
    /// no [`ConnEvent::Qr`] is emitted. Call it right after [`Connection::new`]. Ignored for a
    /// paired device (it logs in).
    pub fn use_pairing_code(&mut self, phone: PhoneNumber) {
        if self.device.is_paired() {
            tracing::warn!("pairing code requested for a paired device; ignored");
            return;
        }
        self.pair_code = Some(PairCodeSession {
            phone,
            started: None,
        });
    }

    /// `pair-device` arrived in code mode: generate the code and an ephemeral key, send
    /// `companion_hello`.
    pub(crate) fn start_pair_code(
        &mut self,
        now: u64,
        expires_at: u64,
        rng: &mut impl CryptoRngCore,
    ) {
        let Some(session) = self.pair_code.as_mut() else {
            return;
        };
        if let Some(started) = session.started.as_mut() {
            // A repeated pair-device: the code stands; only the deadline moves.
            started.expires_at = expires_at;
            return;
        }
        let code = pair_code::generate_code(rng);
        let ephemeral = KeyPair::generate(rng);
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
        let wrapped = pair_code::wrap_ephemeral(&code, &ephemeral.public, &salt, &iv);
        let hello = companion_hello_iq(&session.phone, &wrapped, &self.device.noise_key.public);
        session.started = Some(Started {
            code,
            ephemeral,
            reference: None,
            expires_at,
            shown: false,
            primary_hellos: 0,
        });
        let id = self.send_iq(hello);
        self.track(id, Purpose::PairCodeHello, now, IQ_TIMEOUT_MS);
    }

    /// The answer to `companion_hello` or `companion_finish`.
    pub(crate) fn on_pair_code_answer(&mut self, purpose: Purpose, node: &Node, ok: bool) {
        match purpose {
            Purpose::PairCodeHello if !ok => {
                let reason = format!(
                    "server refused the pairing code request: {}",
                    error_text(node)
                );
                tracing::warn!(%reason, "pairing by code impossible");
                self.terminate(StreamOutcome::Disconnected(reason));
            }
            Purpose::PairCodeHello => {
                let Some(started) = self.pair_code.as_mut().and_then(|s| s.started.as_mut()) else {
                    return;
                };
                match pair_code::hello_answer_ref(node) {
                    Some(reference) => started.reference = Some(reference),
                    None => tracing::warn!(
                        "companion_hello answer has no link_code_pairing_ref; taking it from \
                         the phone's notification"
                    ),
                }
                if !started.shown {
                    started.shown = true;
                    let event = ConnEvent::PairCode {
                        code: pair_code::display_code(&started.code),
                        expires_at: started.expires_at,
                    };
                    self.push_event(event);
                }
            }
            Purpose::PairCodeFinish if !ok => {
                let reason = format!(
                    "the phone did not accept the pairing ({}); check the code and enter it \
                     again",
                    error_text(node)
                );
                tracing::warn!(%reason, "companion_finish refused");
                self.push_event(ConnEvent::PairingProblem { reason });
            }
            _ => tracing::info!("companion_finish accepted; waiting for pair-success"),
        }
    }

    /// `<notification type="link_code_companion_reg">`: the phone's user entered the code.
    pub(crate) fn on_link_code_notification(
        &mut self,
        now: u64,
        node: &Node,
        rng: &mut impl CryptoRngCore,
    ) {
        self.send_node(ack_for(node));
        if let Err(problem) = self.answer_primary_hello(now, node, rng) {
            tracing::warn!(%problem, "link-code notification ignored");
            self.push_event(ConnEvent::PairingProblem {
                reason: format!("link-code notification ignored: {problem}"),
            });
        }
    }

    fn answer_primary_hello(
        &mut self,
        now: u64,
        node: &Node,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(), Problem> {
        let paired = self.device.is_paired();
        let identity = self.device.identity_key.clone();
        let session = self.pair_code.as_mut().ok_or(Problem::NotPairing)?;
        let started = session.started.as_mut().ok_or(Problem::NotPairing)?;
        if paired {
            return Err(Problem::NotPairing);
        }
        if started.primary_hellos >= MAX_PRIMARY_HELLOS {
            return Err(Problem::TooManyAttempts);
        }
        let hello = pair_code::parse_primary_hello(node)?;
        if started
            .reference
            .as_ref()
            .is_some_and(|r| *r != hello.reference)
        {
            return Err(PairCodeError::RefMismatch.into());
        }
        let primary_ephemeral =
            pair_code::unwrap_ephemeral(&started.code, &hello.wrapped_ephemeral)?;
        let finish = pair_code::companion_finish(
            &started.ephemeral,
            &primary_ephemeral,
            &identity,
            &hello.primary_identity,
            &FinishRandom::generate(rng),
        )?;
        // Everything checked: only now does the device change.
        started.primary_hellos += 1;
        started.reference = Some(hello.reference.clone());
        let iq = companion_finish_iq(
            &session.phone,
            &finish.wrapped_bundle,
            &identity.public,
            &hello.reference,
        );
        self.device.adv_secret = finish.adv_secret;
        tracing::info!("the phone entered the code; sending companion_finish");
        let id = self.send_iq(iq);
        self.track(id, Purpose::PairCodeFinish, now, IQ_TIMEOUT_MS);
        Ok(())
    }
}

/// Why a link-code notification was not answered.
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error("no pairing code is pending on this connection")]
    NotPairing,
    #[error("the code was already used {MAX_PRIMARY_HELLOS} times")]
    TooManyAttempts,
    #[error(transparent)]
    Bad(#[from] PairCodeError),
}
