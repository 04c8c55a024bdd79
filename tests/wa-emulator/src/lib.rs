//! A WhatsApp server emulator for tests.
//!
//! It speaks the real WhatsApp Web multi-device protocol closely enough that unmodified clients
//! (Baileys, our own `wa-sidecar`) pair with it and log in:
//! * Noise XX responder with its own certificate chain ([`certs`]), signed for real (XEdDSA);
//! * QR pairing, with the emulator acting as the primary phone ([`adv`], [`qr`]);
//! * login checked against the registered Noise key, then the post-login IQs ([`iq`]);
//! * fault injection and an admin HTTP API ([`admin`]).
//!
//! The protocol logic is sans-IO ([`session::Session`]); [`server`] is the tokio driver.

mod admin;
pub mod adv;
pub mod certs;
mod connection;
pub mod iq;
pub mod payload;
pub mod qr;
pub mod registry;
pub mod routing;
pub mod server;
pub mod session;
pub mod stanzas;

pub use server::{Emulator, EmulatorConfig, EmulatorHandle, ScanFailure};
