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
//! * Login/registration: [`wa::ClientPayload`] (nested [`wa::client_payload::UserAgent`],
//!   [`wa::client_payload::WebInfo`], [`wa::client_payload::DevicePairingRegistrationData`],
//!   [`wa::client_payload::DnsSource`], enums `ConnectType`, `ConnectReason`, `Product`, ...) and
//!   [`wa::DeviceProps`].
//! * ADV attestation: [`wa::AdvSignedDeviceIdentityHmac`], [`wa::AdvSignedDeviceIdentity`],
//!   [`wa::AdvDeviceIdentity`], [`wa::AdvEncryptionType`], [`wa::AdvKeyIndexList`],
//!   [`wa::AdvSignedKeyIndexList`]. prost renames acronyms: proto `ADVSignedDeviceIdentityHMAC`
//!   is Rust `AdvSignedDeviceIdentityHmac`, `DNSSource` is `DnsSource`, field `HMAC` is `hmac`.
//! * E2E content: [`wa::Message`] and its parts ([`wa::ExtendedTextMessage`],
//!   [`wa::ImageMessage`], [`wa::DocumentMessage`], [`wa::AudioMessage`], [`wa::VideoMessage`],
//!   [`wa::StickerMessage`], [`wa::LocationMessage`], [`wa::ContactMessage`],
//!   [`wa::ReactionMessage`], [`wa::ProtocolMessage`], [`wa::DeviceSentMessage`],
//!   [`wa::MessageContextInfo`], [`wa::DeviceListMetadata`], [`wa::ContextInfo`],
//!   [`wa::FutureProofMessage`], [`wa::SenderKeyDistributionMessage`]) and [`wa::MessageKey`].
//! * Signal wire bodies (libsignal `WhisperTextProtocol.proto`): [`wa::SignalMessage`] ("msg"),
//!   [`wa::PreKeySignalMessage`] ("pkmsg"), [`wa::SenderKeyMessage`] ("skmsg") and
//!   [`wa::SignalSenderKeyDistributionMessage`]. The last is the libsignal message; the
//!   similarly named [`wa::SenderKeyDistributionMessage`] is the E2E wrapper (`Message` field 2)
//!   whose `axolotlSenderKeyDistributionMessage` bytes hold `0x33 ||` the libsignal one. The
//!   version byte and trailing MAC/signature are framing, not part of these protobufs.
//!
//! Recursive message fields (e.g. `ContextInfo.quotedMessage`, and every sub-message of
//! [`wa::Message`], which prost boxes because they can reach `Message` again) are `Box`ed.
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
