//! The WhatsApp gateway: Twilio and wa-sidecar webhooks into the CRM store, a job worker that
//! copies media after the webhook was answered, a bearer-protected read API with a live event
//! stream, and `/healthz`, `/readyz`, `/metrics`.
//!
//! Start it with [`app::build`] (reads nothing from the environment itself: pass a
//! [`config::Config`], e.g. from [`config::Config::from_env`]).

pub mod api;
pub mod app;
pub mod baileys;
pub mod config;
pub mod metrics;
pub mod open;
pub mod outbound;
pub mod respond;
pub mod secret;
pub mod twilio;
pub mod worker;

pub use app::{App, AppError, AppState, build, build_with, build_with_store};
pub use config::{Config, ConfigError};
pub use secret::Secret;
