//! Media capture for the gateway: fetch provider media (credentials only to the provider's host),
//! size limits, content-addressed storage on a folder or S3.
//!
//! The gateway's background worker calls [`MediaPipeline::copy_from_url`] after the webhook has
//! stored the message. The pipeline:
//! 1. refuses anything but `http`/`https`;
//! 2. sends HTTP Basic credentials ([`ProviderAuth`]) only to the configured provider hosts, and
//!    follows redirects itself so a redirect to a CDN (Twilio does this) never gets them;
//! 3. picks the size limit from the MIME type ([`SizeLimits`]), rejects an oversize
//!    Content-Length before reading, and counts bytes while streaming into a staging file;
//! 4. hashes with SHA-256 and stores under [`storage_key`] — a folder (temp file, fsync, rename)
//!    or S3-compatible storage (SigV4 over reqwest) — skipping the upload when the key exists.
//!
//! Failures are [`MediaError`]s; [`MediaError::is_retryable`] tells the worker whether to retry.

mod backend;
mod config;
mod error;
mod fetch;
mod limits;
mod pipeline;

pub use config::{MediaConfig, ProviderAuth, S3Settings};
pub use error::MediaError;
pub use limits::{DEFAULT_MIME, SizeLimits, extension_for, normalize_mime};
pub use pipeline::{MediaBody, MediaPipeline, StoredMedia, storage_key};
