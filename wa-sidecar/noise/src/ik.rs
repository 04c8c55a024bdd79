//! Responder side of Noise IK resumption and of its XXfallback, as WhatsApp's server speaks them
//! to a returning client that cached the server's static key (fact sheet section 1.6).
//!
//! Wire facts (whatsapp-rust 0.7 `wacore-noise/src/handshake.rs` `IkHandshakeState` and
//! `XxFallbackHandshakeState`, `wacore-binary/src/consts.rs` `NOISE_PATTERN_IK` /
//! `NOISE_PATTERN_XXFALLBACK`, `src/handshake.rs` `run_ik_handshake`):
//! * IK ClientHello = `ephemeral` + encrypted `static` + encrypted `payload` (the
//!   ClientPayload, 0-RTT), on `Noise_IK_25519_AESGCM_SHA256` with the pre-message `<- s`:
//!   `MixHash(server static)`, `e`, `es`, `s`, `ss`, payload.
//! * Accepted: ServerHello = `ephemeral` + `payload` and **no `static`**: `e`, `ee`, `se`, then
//!   an encrypted payload (whatsapp-rust decrypts it only to authenticate the transcript; we
//!   send the certificate chain, as its test responder does), then Split. No ClientFinish.
//! * Refused (the client's `static` does not decrypt under our key, e.g. it cached another
//!   server key): an XX-shaped ServerHello (`static` present) on
//!   `Noise_XXfallback_25519_AESGCM_SHA256`, whose transcript starts with
//!   `MixHash(client ephemeral)` (the ephemeral already sent); then ClientFinish as in XX.
//!
//! A ClientHello with only `ephemeral` is plain XX, as from Baileys, whatsmeow and our client.

use prost::Message;
use rand_core::CryptoRngCore;
use wa_crypto::KeyPair;
use wa_protos::wa::HandshakeMessage;
use wa_protos::wa::handshake_message::ServerHello;

use crate::client::{checked_dh, key32};
use crate::error::{HandshakeError, HandshakeStep};
use crate::frame::WA_CONN_HEADER;
use crate::server::{ClientFinished, ServerHandshake};
use crate::symmetric::SymmetricState;
use crate::transport::Transport;

/// `Noise_IK_25519_AESGCM_SHA256`, zero-padded to 32 bytes (whatsapp-rust `NOISE_PATTERN_IK`).
pub const NOISE_IK_NAME: &[u8; 32] = b"Noise_IK_25519_AESGCM_SHA256\0\0\0\0";

/// `Noise_XXfallback_25519_AESGCM_SHA256`: 36 bytes, so its SHA-256 is the initial hash
/// (whatsapp-rust `NOISE_PATTERN_XXFALLBACK`, Noise spec section 5.2).
pub const NOISE_XXFALLBACK_NAME: &[u8; 36] = b"Noise_XXfallback_25519_AESGCM_SHA256";

/// What the server does after reading any ClientHello ([`ServerHandshake::respond`]).
pub enum Responder {
    /// Plain XX: send `server_hello`, then pass ClientFinish to `handshake`.
    Xx {
        /// Waits for ClientFinish.
        handshake: ServerHandshake,
        /// The ServerHello to send.
        server_hello: Vec<u8>,
    },
    /// IK whose `static` did not decrypt under our key: XXfallback. Send `server_hello`, then
    /// pass ClientFinish to `handshake`.
    XxFallback {
        /// Waits for ClientFinish.
        handshake: ServerHandshake,
        /// The ServerHello to send (with `static`, which tells the client to fall back).
        server_hello: Vec<u8>,
    },
    /// IK accepted: send `server_hello`; the handshake is complete (no ClientFinish follows).
    Ik {
        /// The ServerHello to send (without `static`).
        server_hello: Vec<u8>,
        /// The client's static key and its ClientPayload.
        finished: ClientFinished,
        /// The server-side transport.
        transport: Transport,
    },
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Responder::Xx { .. } => "Xx",
            Responder::XxFallback { .. } => "XxFallback",
            Responder::Ik { .. } => "Ik",
        };
        f.debug_struct("Responder")
            .field("pattern", &kind)
            .finish_non_exhaustive()
    }
}

impl ServerHandshake {
    /// Reads a ClientHello (one frame body, intro stripped) of either shape: XX (`ephemeral`
    /// only) or IK (`ephemeral`, `static`, `payload`), and answers it: XX, IK accepted, or
    /// XXfallback when the client's `static` does not decrypt under `server_static` (the
    /// client cached another server key). `cert_chain` is the encoded `CertChain`.
    ///
    /// Errors: undecodable or malformed hello, low-order keys, and an IK hello whose `static`
    /// decrypts but whose `payload` does not (`Decrypt(ClientPayload)`: tampered, since only
    /// a party knowing our static key could produce that `static`).
    pub fn respond(
        client_hello: &[u8],
        server_static: &KeyPair,
        cert_chain: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Responder, HandshakeError> {
        let msg = HandshakeMessage::decode(client_hello)
            .map_err(|_| HandshakeError::Malformed("undecodable HandshakeMessage"))?;
        let hello = msg
            .client_hello
            .ok_or(HandshakeError::Malformed("no clientHello"))?;
        let client_ephemeral = key32(hello.ephemeral(), "clientHello.ephemeral is not 32 bytes")?;
        let (enc_static, enc_payload) = match (hello.r#static, hello.payload) {
            (None, None) => {
                let mut state = SymmetricState::new(&WA_CONN_HEADER);
                state.mix_hash(&client_ephemeral);
                let (handshake, server_hello) =
                    Self::answer(state, &client_ephemeral, server_static, cert_chain, rng)?;
                return Ok(Responder::Xx {
                    handshake,
                    server_hello,
                });
            }
            (Some(s), Some(p)) => (s, p),
            _ => {
                return Err(HandshakeError::Malformed(
                    "IK clientHello needs both static and payload",
                ));
            }
        };

        let mut state = SymmetricState::with_protocol(NOISE_IK_NAME, &WA_CONN_HEADER);
        state.mix_hash(&server_static.public);
        state.mix_hash(&client_ephemeral);
        state.mix_key(&checked_dh(server_static, &client_ephemeral)?);
        let Ok(client_static) = state.decrypt_and_hash(&enc_static) else {
            return fallback(&client_ephemeral, server_static, cert_chain, rng);
        };
        let client_static = key32(&client_static, "client static key is not 32 bytes")?;
        state.mix_key(&checked_dh(server_static, &client_static)?);
        let payload = state
            .decrypt_and_hash(&enc_payload)
            .map_err(|_| HandshakeError::Decrypt(HandshakeStep::ClientPayload))?;

        let ephemeral = KeyPair::generate(rng);
        state.mix_hash(&ephemeral.public);
        state.mix_key(&checked_dh(&ephemeral, &client_ephemeral)?);
        state.mix_key(&checked_dh(&ephemeral, &client_static)?);
        let enc_chain = state
            .encrypt_and_hash(cert_chain)
            .map_err(|_| HandshakeError::Seal)?;
        let reply = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(ephemeral.public.to_vec()),
                payload: Some(enc_chain),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (client_write, client_read) = state.split();
        Ok(Responder::Ik {
            server_hello: reply.encode_to_vec(),
            finished: ClientFinished {
                client_static,
                payload,
            },
            transport: Transport::new(client_read, client_write),
        })
    }
}

/// XXfallback: XX's ServerHello on a fresh transcript that starts with the client's ephemeral.
fn fallback(
    client_ephemeral: &[u8; 32],
    server_static: &KeyPair,
    cert_chain: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<Responder, HandshakeError> {
    let mut state = SymmetricState::with_protocol(NOISE_XXFALLBACK_NAME, &WA_CONN_HEADER);
    state.mix_hash(client_ephemeral);
    let (handshake, server_hello) =
        ServerHandshake::answer(state, client_ephemeral, server_static, cert_chain, rng)?;
    Ok(Responder::XxFallback {
        handshake,
        server_hello,
    })
}

#[cfg(test)]
#[path = "ik_tests.rs"]
mod tests;
