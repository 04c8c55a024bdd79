//! A WhatsApp server emulator for tests.
//!
//! It speaks the real WhatsApp Web multi-device protocol closely enough that unmodified clients
//! (Baileys, our own `wa-sidecar`) pair with it and log in:
//! * Noise XX responder with its own certificate chain ([`certs`]), signed for real (XEdDSA),
//!   and Noise IK resumption (or XXfallback) for clients that cached its static key;
//! * QR pairing, with the emulator acting as the primary phone ([`adv`], [`qr`]);
//! * login checked against the registered Noise key, then the post-login IQs ([`iq`]);
//! * app-state sync answered as for an account without app state ([`app_state`]);
//! * fault injection and an admin HTTP API (see below).
//!
//! * relay of 1:1 messages and receipts between registered devices, with an offline queue
//!   ([`routing`]); a message a device never acknowledged is delivered again at its next login
//!   ([`delivery`]).
//!
//! The protocol logic is sans-IO ([`session::Session`]); [`server`] is the tokio driver.
//!
//! # Admin HTTP API (on [`EmulatorHandle::admin_url`])
//! * `POST /admin/scan` `{"qr":"<QR string as the client shows it>","phone":"9725..."}`: the
//!   phone scans; 200 with the device once the companion signed its identity; 400 bad QR,
//!   404 no such companion connected, 409 wrong ref/keys, 502 bad device signature, 504 timeout.
//! * `POST /admin/pair-code` `{"phone":"9725...","code":"ABCD-EFGH"}`: the phone's user types
//!   the pairing code a companion showed after asking for one for that number (pairing by
//!   phone number, [`session`]); 200 with the device once the companion signed; 400 not a
//!   code, 403 wrong code (the companion's key bundle does not decrypt; it may be entered
//!   again), 404 no companion asked for a code for that phone (within 10 s), 502/504 as for a
//!   scan.
//! * `GET /admin/devices`: registered devices (public keys, prekey count, push name).
//! * `GET /admin/state`: connections, device/account counts, fault switches, root key.
//! * `POST /admin/fault`: `{"kind":"drop"}` closes every connection;
//!   `{"kind":"stream_error","code":"515"|"401"|"conflict"|"<n>"[,"jid":"..."]}` sends
//!   `<stream:error>` (401 carries `<conflict type="device_removed"/>`, `conflict` carries
//!   `<conflict type="replaced"/>`) and closes; `{"kind":"delay_ms","ms":N}` delays outbound
//!   frames; `{"kind":"refuse_logins","on":true}` answers logins with `<failure reason="401"/>`;
//!   `{"kind":"refuse_logouts","on":true}` answers a companion's `remove-companion-device`
//!   with error 500 (otherwise the device is forgotten and its later logins are refused);
//!   `{"kind":"hold_receipts","on":true}` ignores the receipts devices send (counted in
//!   `/admin/state` as `held_receipts`, with `unacked` messages per device).
//! * `POST /admin/remove-device` `{"jid":"..."}`: forget the device and log its connections out.
//!
//! Clients must trust [`EmulatorHandle::root_public_key`] (for `wa-sidecar`:
//! `WA_DANGER_TRUST_ROOT_KEY=<hex>`); unmodified Baileys accepts the chain as it is.

mod admin;
pub mod adv;
pub mod app_state;
pub mod baileys_harness;
pub mod certs;
mod connection;
pub mod delivery;
pub mod iq;
pub mod payload;
pub mod qr;
pub mod registry;
pub mod routing;
pub mod server;
pub mod session;
pub mod stanzas;

pub use server::{Emulator, EmulatorConfig, EmulatorHandle, ScanFailure};
