//! WhatsApp Noise XX transport: framing, handshake state, certificate chain verification with
//! XEdDSA. Sans-IO: callers move bytes, and pass `now` (unix seconds) and an rng.
//!
//! Client flow:
//! 1. [`ClientHandshake::start`] → ClientHello bytes; frame with [`FrameEncoder::client`].
//! 2. Feed received bytes to [`FrameDecoder::client`]; pass the first frame to
//!    [`ClientHandshake::read_server_hello`] → ClientFinish bytes, [`Transport`],
//!    [`ServerIdentity`] (the chain is verified under a [`CertPolicy`]).
//! 3. Every later frame body goes through [`Transport::encrypt`] / [`Transport::decrypt`].
//!
//! Server (emulator) flow: [`FrameDecoder::server`] strips the client intro;
//! [`ServerHandshake::read_client_hello`] → ServerHello bytes (chain from [`build_cert_chain`]);
//! [`ServerHandshake::read_client_finish`] → [`ClientFinished`] and the [`Transport`].
//! A server that also serves returning clients resuming with Noise IK (whatsapp-rust) calls
//! [`ServerHandshake::respond`] instead of `read_client_hello`: XX, IK accepted (done, no
//! ClientFinish), or XXfallback when the client cached another server key ([`Responder`]).

mod cert;
mod client;
mod error;
mod frame;
mod ik;
mod server;
mod symmetric;
mod transport;

pub use cert::{
    CertError, CertInfo, CertPolicy, CertRole, CertSerials, ROOT_SERIAL, Validity, VerifiedChain,
    WHATSAPP_ROOT_PUBLIC_KEY, build_cert_chain, sign_certificate, verify_cert_chain,
};
pub use client::{ClientHandshake, ServerIdentity};
pub use error::{HandshakeError, HandshakeStep};
pub use frame::{FrameDecoder, FrameEncoder, FrameError, MAX_FRAME_LEN, WA_CONN_HEADER};
pub use ik::{NOISE_IK_NAME, NOISE_XXFALLBACK_NAME, Responder};
pub use server::{ClientFinished, ServerHandshake};
pub use symmetric::NOISE_XX_NAME;
pub use transport::{Transport, TransportError};
