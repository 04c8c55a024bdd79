//! WhatsApp protobuf schemas compiled with prost (no system `protoc`).
//!
//! Every schema lives in `proto/*.proto` under the single protobuf package `wa`; `build.rs`
//! compiles them with the pure-Rust `protox` compiler and `prost-build` on every build, so
//! editing a `.proto` file is all that "regeneration" takes.
//!
//! All generated types are in [`wa`]:
//! * Noise handshake: [`wa::HandshakeMessage`] with [`wa::handshake_message::ClientHello`],
//!   [`wa::handshake_message::ServerHello`], [`wa::handshake_message::ClientFinish`].
//! * Server certificate: [`wa::CertChain`], [`wa::cert_chain::NoiseCertificate`],
//!   [`wa::cert_chain::noise_certificate::Details`].
//!
//! Every `bytes` field is a `Vec<u8>`; proto2 `optional` fields are `Option<_>` so that presence
//! is visible (prost also generates `field()` getters that return the default when absent).

/// Generated protobuf types (protobuf package `wa`).
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used
)]
pub mod wa {
    include!(concat!(env!("OUT_DIR"), "/wa.rs"));
}
