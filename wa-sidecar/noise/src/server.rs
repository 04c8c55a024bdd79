//! Responder side of the XX handshake, for the emulator (fact sheet section 1.3, "The server
//! (emulator) mirrors these steps").

use prost::Message;
use rand_core::CryptoRngCore;
use wa_crypto::KeyPair;
use wa_protos::wa::HandshakeMessage;
use wa_protos::wa::handshake_message::ServerHello;

use crate::client::{checked_dh, key32};
use crate::error::{HandshakeError, HandshakeStep};
use crate::frame::WA_CONN_HEADER;
use crate::symmetric::SymmetricState;
use crate::transport::Transport;

/// What the server learns from ClientFinish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinished {
    /// The client's Noise static public key.
    pub client_static: [u8; 32],
    /// The decrypted `ClientPayload` protobuf bytes.
    pub payload: Vec<u8>,
}

/// Server handshake after ServerHello was produced, waiting for ClientFinish.
pub struct ServerHandshake {
    state: SymmetricState,
    ephemeral: KeyPair,
}

impl std::fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandshake").finish_non_exhaustive()
    }
}

impl ServerHandshake {
    /// Consumes the client's `HandshakeMessage{clientHello}` (one frame body, intro already
    /// stripped by a server [`crate::FrameDecoder`]) and returns the handshake with the
    /// serialized ServerHello carrying `server_static.public` and `cert_chain` (encrypted).
    pub fn read_client_hello(
        client_hello: &[u8],
        server_static: &KeyPair,
        cert_chain: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let msg = HandshakeMessage::decode(client_hello)
            .map_err(|_| HandshakeError::Malformed("undecodable HandshakeMessage"))?;
        let hello = msg
            .client_hello
            .ok_or(HandshakeError::Malformed("no clientHello"))?;
        let client_ephemeral = key32(hello.ephemeral(), "clientHello.ephemeral is not 32 bytes")?;
        let mut state = SymmetricState::new(&WA_CONN_HEADER);
        state.mix_hash(&client_ephemeral);
        Self::answer(state, &client_ephemeral, server_static, cert_chain, rng)
    }

    /// The XX (and XXfallback) ServerHello on a state that has mixed in the client's ephemeral:
    /// `e, ee, s, es`, then the certificate chain as payload.
    pub(crate) fn answer(
        mut state: SymmetricState,
        client_ephemeral: &[u8; 32],
        server_static: &KeyPair,
        cert_chain: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let ephemeral = KeyPair::generate(rng);
        state.mix_hash(&ephemeral.public);
        state.mix_key(&checked_dh(&ephemeral, client_ephemeral)?);
        let enc_static = state
            .encrypt_and_hash(&server_static.public)
            .map_err(|_| HandshakeError::Seal)?;
        state.mix_key(&checked_dh(server_static, client_ephemeral)?);
        let enc_chain = state
            .encrypt_and_hash(cert_chain)
            .map_err(|_| HandshakeError::Seal)?;

        let reply = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(ephemeral.public.to_vec()),
                r#static: Some(enc_static),
                payload: Some(enc_chain),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok((Self { state, ephemeral }, reply.encode_to_vec()))
    }

    /// Consumes `HandshakeMessage{clientFinish}` and returns the client's static key and
    /// payload with the server-side transport.
    pub fn read_client_finish(
        mut self,
        client_finish: &[u8],
    ) -> Result<(ClientFinished, Transport), HandshakeError> {
        let msg = HandshakeMessage::decode(client_finish)
            .map_err(|_| HandshakeError::Malformed("undecodable HandshakeMessage"))?;
        let finish = msg
            .client_finish
            .ok_or(HandshakeError::Malformed("no clientFinish"))?;
        let enc_static = finish
            .r#static
            .ok_or(HandshakeError::Malformed("clientFinish without static"))?;
        let enc_payload = finish
            .payload
            .ok_or(HandshakeError::Malformed("clientFinish without payload"))?;

        let state = &mut self.state;
        let client_static = state
            .decrypt_and_hash(&enc_static)
            .map_err(|_| HandshakeError::Decrypt(HandshakeStep::ClientStatic))?;
        let client_static = key32(&client_static, "client static key is not 32 bytes")?;
        state.mix_key(&checked_dh(&self.ephemeral, &client_static)?);
        let payload = state
            .decrypt_and_hash(&enc_payload)
            .map_err(|_| HandshakeError::Decrypt(HandshakeStep::ClientPayload))?;

        let (client_write, client_read) = self.state.split();
        Ok((
            ClientFinished {
                client_static,
                payload,
            },
            Transport::new(client_read, client_write),
        ))
    }
}
