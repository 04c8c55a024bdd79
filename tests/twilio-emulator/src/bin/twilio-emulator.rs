//! `twilio-emulator`: runs the Twilio API emulator and prints its base URL and credentials.
//! A TEST TOOL: its `/admin` API has no authentication; keep it on a loopback address.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use twilio_emulator::{EmulatorConfig, TwilioEmulator};

/// Twilio Messaging API emulator (tests and local demos only).
#[derive(Debug, Parser)]
struct Args {
    /// Listen address.
    #[arg(long, env = "TWILIO_EMULATOR_BIND", default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// Account SID (random when absent).
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    account_sid: Option<String>,
    /// Auth token (random when absent).
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// WhatsApp sender owned by the account (repeatable).
    #[arg(long = "sender", default_value = "whatsapp:+14155238886")]
    senders: Vec<String>,
    /// Gateway Twilio webhook for customer inbound messages.
    #[arg(long)]
    inbound_webhook: Option<String>,
    /// Public URL the inbound signature is computed over (the gateway's PUBLIC_BASE_URL + path).
    #[arg(long)]
    public_url: Option<String>,
    /// Milliseconds between status steps.
    #[arg(long, default_value_t = 200)]
    callback_step_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if !args.bind.ip().is_loopback() {
        eprintln!(
            "WARNING: the admin API has no authentication and is listening on {}",
            args.bind
        );
    }
    let tw = TwilioEmulator::start(EmulatorConfig {
        bind: args.bind,
        account_sid: args.account_sid,
        auth_token: args.auth_token,
        senders: args.senders,
        cdn_base_url: None,
        callback_step: Duration::from_millis(args.callback_step_ms),
    })
    .await
    .context("starting the emulator")?;
    tw.configure(|s| {
        s.inbound_webhook = args.inbound_webhook;
        s.public_url = args.public_url;
    });
    // Printing the credentials is the point of this test tool's output.
    println!("TWILIO_API_BASE={}", tw.base_url());
    println!("TWILIO_ACCOUNT_SID={}", tw.account_sid());
    println!("TWILIO_AUTH_TOKEN={}", tw.auth_token());
    println!("TWILIO_API_KEY_SID={}", tw.api_key_sid());
    println!("TWILIO_API_KEY_SECRET={}", tw.api_key_secret());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
