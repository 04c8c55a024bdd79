//! Drives UNMODIFIED whatsapp-rust 0.7 (crates.io) against the in-repo WhatsApp server emulator
//! (`tests/wa-emulator`, started as a child process): see `tests/pair_and_login.rs`.

pub mod emulator;
pub mod handshakes;
pub mod session;

pub use emulator::EmulatorProcess;
pub use session::{Seen, Session, cached_server_key, replace_cached_server_key};
