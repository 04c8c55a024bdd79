//! Initiator side of the XX handshake (fact sheet section 1.3, "Client-side steps"; Baileys
//! `processHandshake` in `src/Utils/noise-handler.ts`, whatsmeow `doHandshake` in `handshake.go`).

use prost::Message;
use rand_core::CryptoRngCore;
use wa_crypto::KeyPair;
use wa_protos::wa::HandshakeMessage;
use wa_protos::wa::handshake_message::{ClientFinish, ClientHello};

use crate::cert::{CertPolicy, VerifiedChain, verify_cert_chain};
use crate::error::{HandshakeError, HandshakeStep};
use crate::frame::WA_CONN_HEADER;
use crate::symmetric::SymmetricState;
use crate::transport::Transport;

/// What the client learned about the server during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// The server's Noise static public key (equal to the leaf certificate key).
    pub static_public: [u8; 32],
    /// The verified certificate chain (keys, serials and validity windows, e.g. for caching).
    pub chain: VerifiedChain,
}

/// Client handshake after ClientHello was produced, waiting for ServerHello.
pub struct ClientHandshake {
    state: SymmetricState,
    ephemeral: KeyPair,
}

impl std::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandshake").finish_non_exhaustive()
    }
}

/// DH that refuses an all-zero result (a low-order peer key).
pub(crate) fn checked_dh(ours: &KeyPair, theirs: &[u8; 32]) -> Result<[u8; 32], HandshakeError> {
    let shared = ours.dh(theirs);
    if shared == [0u8; 32] {
        return Err(HandshakeError::LowOrderKey);
    }
    Ok(shared)
}

/// Decodes a 32-byte key field.
pub(crate) fn key32(bytes: &[u8], what: &'static str) -> Result<[u8; 32], HandshakeError> {
    bytes
        .try_into()
        .map_err(|_| HandshakeError::Malformed(what))
}

impl ClientHandshake {
    /// Generates the ephemeral key and returns the handshake together with the serialized
    /// `HandshakeMessage{clientHello{ephemeral}}` to send (frame it with a client
    /// [`crate::FrameEncoder`], which adds the `WA` header).
    pub fn start(rng: &mut impl CryptoRngCore) -> (Self, Vec<u8>) {
        let ephemeral = KeyPair::generate(rng);
        let mut state = SymmetricState::new(&WA_CONN_HEADER);
        state.mix_hash(&ephemeral.public);
        let hello = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral.public.to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        };
        (Self { state, ephemeral }, hello.encode_to_vec())
    }

    /// Processes the server's `HandshakeMessage{serverHello}` (one frame body), verifies the
    /// certificate chain at `now` under `policy`, and returns the serialized ClientFinish
    /// (carrying `noise_static.public` and `client_payload`, both encrypted), the transport and
    /// the server's identity.
    pub fn read_server_hello(
        mut self,
        server_hello: &[u8],
        noise_static: &KeyPair,
        client_payload: &[u8],
        now: u64,
        policy: &CertPolicy,
    ) -> Result<(Vec<u8>, Transport, ServerIdentity), HandshakeError> {
        let msg = HandshakeMessage::decode(server_hello)
            .map_err(|_| HandshakeError::Malformed("undecodable HandshakeMessage"))?;
        let hello = msg
            .server_hello
            .ok_or(HandshakeError::Malformed("no serverHello"))?;
        let server_ephemeral = key32(hello.ephemeral(), "serverHello.ephemeral is not 32 bytes")?;
        let enc_static = hello
            .r#static
            .ok_or(HandshakeError::Malformed("serverHello without static"))?;
        let enc_payload = hello
            .payload
            .ok_or(HandshakeError::Malformed("serverHello without payload"))?;

        let state = &mut self.state;
        state.mix_hash(&server_ephemeral);
        state.mix_key(&checked_dh(&self.ephemeral, &server_ephemeral)?);

        let server_static = state
            .decrypt_and_hash(&enc_static)
            .map_err(|_| HandshakeError::Decrypt(HandshakeStep::ServerStatic))?;
        let server_static = key32(&server_static, "server static key is not 32 bytes")?;
        state.mix_key(&checked_dh(&self.ephemeral, &server_static)?);

        let chain_bytes = state
            .decrypt_and_hash(&enc_payload)
            .map_err(|_| HandshakeError::Decrypt(HandshakeStep::CertChain))?;
        let chain = verify_cert_chain(&chain_bytes, &server_static, now, policy)?;

        let enc_our_static = state
            .encrypt_and_hash(&noise_static.public)
            .map_err(|_| HandshakeError::Seal)?;
        state.mix_key(&checked_dh(noise_static, &server_ephemeral)?);
        let enc_client_payload = state
            .encrypt_and_hash(client_payload)
            .map_err(|_| HandshakeError::Seal)?;

        let finish = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(enc_our_static),
                payload: Some(enc_client_payload),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (write, read) = self.state.split();
        Ok((
            finish.encode_to_vec(),
            Transport::new(write, read),
            ServerIdentity {
                static_public: server_static,
                chain,
            },
        ))
    }
}
