//! The `wa-sidecar` command line: `login`, `run`, `status`, `logout`.

use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio::sync::{mpsc, watch};
use wa_core::pair_code::PhoneNumber;

use crate::config::Config;
use crate::driver::{Driver, DriverConfig, Goal, PairEnd, PairNotice, RunEnd, SessionEnd};
use crate::service::{Service, ServiceError, ServiceOptions};
use crate::state::LinkState;
use crate::store::{Store, StoreError};

/// Process exit codes (also used by `systemd/wa-sidecar.service`).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other failure (network, I/O): worth a restart.
    pub const FAILURE: u8 = 1;
    /// `login`: every QR code expired without a scan (or the pairing code was not entered).
    pub const QR_EXHAUSTED: u8 = 3;
    /// `run`: the device is logged out; pair again with `login`. Not restarted by systemd.
    pub const LOGGED_OUT: u8 = 4;
    /// `run`: no paired device; run `login` first. Not restarted by systemd.
    pub const NOT_PAIRED: u8 = 5;
    /// Stored state is corrupt (EX_DATAERR). Not restarted by systemd.
    pub const CORRUPT_STATE: u8 = 65;
    /// Missing or malformed configuration (EX_CONFIG). Not restarted by systemd.
    pub const CONFIG: u8 = 78;
}

const ENV_HELP: &str = "\
Environment:
  WA_WS_URL                 WhatsApp WebSocket URL [default: wss://web.whatsapp.com/ws/chat]
  WA_STATE_DIR              state directory (sled: device keys, outbox) [default: ./wa-state];
                            created if missing (mode 0700)
  SIDECAR_BIND              HTTP listen address for GET /health and POST /send
                            [default: 127.0.0.1:3001]
  BAILEYS_WEBHOOK_TARGET    where inbound messages are POSTed, e.g.
                            https://crm.example/api/whatsapp/baileys (required by `run`)
  BAILEYS_WEBHOOK_SECRET    shared secret sent as X-BAILEYS-SECRET, and required from callers
                            of POST /send (required by `run`)
  WA_SEND_RATE_PER_MIN      new messages POST /send may send per minute (burst 5); more
                            are answered 429 with Retry-After [default: 20]
  WA_DANGER_TRUST_ROOT_KEY  TEST ONLY: 64 hex chars, trust this certificate root instead of
                            WhatsApp's (for the local emulator); never set it in production
  RUST_LOG                  log filter [default: info]

Linking:
  wa-sidecar login                 shows QR codes: on the phone, WhatsApp > Linked devices >
                                   Link a device, and scan
  wa-sidecar login --phone 9725... prints `pairing-code: XXXX-XXXX`: on that phone, WhatsApp >
                                   Linked devices > Link a device > Link with phone number
                                   instead, and type the code

Exit codes: 0 ok, 1 failure, 2 usage, 3 QR codes (or pairing code) expired, 4 logged out,
5 not paired, 65 corrupt state, 78 bad configuration (or a malformed --phone).";

/// Native WhatsApp Web multi-device client: a drop-in replacement for the Node Baileys
/// sidecar.
#[derive(Debug, Parser)]
#[command(name = "wa-sidecar", version, after_long_help = ENV_HELP, after_help = ENV_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Link this sidecar as a new device: shows QR codes to scan with the phone (WhatsApp >
    /// Linked devices), each also printed as a `qr-data: ...` line; with `--phone`, prints a
    /// `pairing-code: XXXX-XXXX` line to type into that phone instead. Exits once paired.
    Login {
        /// Link by phone number: the business's number in international format (country
        /// code first, e.g. 972501234567 or +972 50 123 4567). Prints an 8-character code to
        /// enter on that phone (WhatsApp > Linked devices > Link a device > Link with phone
        /// number instead), for servers without a screen to scan from.
        #[arg(long, value_name = "PHONE")]
        phone: Option<String>,
    },
    /// Run the service: the WhatsApp connection (with reconnects) and the HTTP API.
    Run,
    /// Print the paired device (from the state directory, without connecting).
    Status,
    /// Unlink this device at the server, then delete the local state.
    Logout {
        /// Delete the local state even when the server cannot be told.
        #[arg(long)]
        force: bool,
    },
}

/// Runs `cli`; returns the process exit code. Errors are printed here.
pub async fn run(cli: Cli) -> u8 {
    let phone = match &cli.command {
        Command::Login { phone: Some(raw) } => match PhoneNumber::parse(raw) {
            Ok(phone) => Some(phone),
            Err(e) => {
                eprintln!("wa-sidecar: refusing to start: --phone {raw:?}: {e}");
                return exit::CONFIG;
            }
        },
        _ => None,
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wa-sidecar: refusing to start: {e}");
            return exit::CONFIG;
        }
    };
    if let Err(e) = config.prepare_state_dir() {
        eprintln!("wa-sidecar: refusing to start: {e}");
        return exit::CONFIG;
    }
    if let Some(root) = config.trust_root {
        tracing::warn!(
            root = %hex::encode(root),
            "WA_DANGER_TRUST_ROOT_KEY is set: trusting a certificate root that is NOT \
             WhatsApp's. Test use only; this connection is not talking to WhatsApp"
        );
    }
    match cli.command {
        Command::Login { .. } => with_store(&config, |s| login(&config, s, phone)).await,
        Command::Run => run_service(&config).await,
        Command::Status => with_store(&config, |s| async move { status(&s) }).await,
        Command::Logout { force } => with_store(&config, |s| logout(&config, s, force)).await,
    }
}

fn store_error_code(e: &StoreError) -> u8 {
    match e {
        StoreError::Corrupt { .. } => exit::CORRUPT_STATE,
        _ => exit::FAILURE,
    }
}

async fn with_store<F, Fut>(config: &Config, f: F) -> u8
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<u8, StoreError>>,
{
    let result = match Store::open(&config.state_dir) {
        Ok(store) => f(store).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| {
        eprintln!("wa-sidecar: {e}");
        store_error_code(&e)
    })
}

fn driver_config(config: &Config) -> DriverConfig {
    DriverConfig {
        ws_url: config.ws_url.clone(),
        cert_policy: config.cert_policy(),
    }
}

/// A shutdown channel that turns true on SIGINT or SIGTERM.
fn shutdown_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        let _ = tx.send(true);
    });
    rx
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn login(
    config: &Config,
    store: Store,
    phone: Option<PhoneNumber>,
) -> Result<u8, StoreError> {
    if store.logged_out_reason()?.is_none()
        && let Some(device) = store.load_device()?
        && device.is_paired()
    {
        println!(
            "already paired as {} (run `wa-sidecar logout` first to link again)",
            device.jid.as_deref().unwrap_or("?")
        );
        return Ok(exit::OK);
    }
    // a logged-out or half-paired device is useless: start from nothing
    store.wipe()?;
    let mut driver = Driver::new(driver_config(config), store, shutdown_on_signals());
    let device = wa_core::DeviceState::generate(&mut rand::rngs::OsRng);
    let end = match &phone {
        None => {
            let printer = tokio::spawn(print_qr_codes(driver.subscribe()));
            let end = driver.pair(device).await;
            printer.abort();
            end
        }
        Some(phone) => {
            let printer = tokio::spawn(print_pairing_code(driver.pairing_notices(), phone.clone()));
            let end = driver.pair_by_code(device, phone.clone()).await;
            // let the printer finish what was already reported
            drop(driver);
            let _ = printer.await;
            end
        }
    };
    Ok(match end? {
        PairEnd::Paired { jid } => {
            println!(
                "paired as {jid}; state saved in {}",
                config.state_dir.display()
            );
            exit::OK
        }
        PairEnd::QrExhausted => {
            match &phone {
                None => eprintln!("no QR code was scanned in time; run `wa-sidecar login` again"),
                Some(p) => eprintln!(
                    "the pairing code expired before it was entered on the phone; run \
                     `wa-sidecar login --phone {}` again",
                    p.digits()
                ),
            }
            exit::QR_EXHAUSTED
        }
        PairEnd::Failed(reason) => {
            eprintln!("pairing failed: {reason}");
            exit::FAILURE
        }
        PairEnd::Shutdown => {
            eprintln!("interrupted before pairing completed");
            exit::FAILURE
        }
    })
}

/// Prints every new QR code: the Unicode drawing, then `qr-data: <string>` on its own line.
async fn print_qr_codes(mut link: watch::Receiver<LinkState>) {
    let mut last = String::new();
    loop {
        let qr = match &*link.borrow_and_update() {
            LinkState::QrPending { qr, .. } if *qr != last => Some(qr.clone()),
            _ => None,
        };
        if let Some(qr) = qr {
            match crate::qr::render(&qr) {
                Ok(drawing) => println!("\nScan with WhatsApp > Linked devices:\n{drawing}"),
                Err(e) => eprintln!("cannot draw the QR code ({e}); use the qr-data line"),
            }
            println!("qr-data: {qr}");
            last = qr;
        }
        if link.changed().await.is_err() {
            return;
        }
    }
}

/// Prints the pairing code as `pairing-code: XXXX-XXXX` with what to do on the phone, and any
/// problem reported while waiting. Ends when the driver is dropped.
async fn print_pairing_code(mut notices: mpsc::UnboundedReceiver<PairNotice>, phone: PhoneNumber) {
    while let Some(notice) = notices.recv().await {
        match notice {
            PairNotice::Code { code, expires_at } => {
                let secs = expires_at.saturating_sub(crate::driver::now_ms()) / 1000;
                println!("pairing-code: {code}");
                println!(
                    "On the phone with number {phone}: open WhatsApp > Linked devices > Link a \
                     device > Link with phone number instead, and enter {code} (valid for about \
                     {secs} s)."
                );
            }
            PairNotice::Problem(reason) => eprintln!("pairing: {reason}"),
        }
    }
}

fn status(store: &Store) -> Result<u8, StoreError> {
    let device = store.load_device()?;
    match device.filter(|d| d.is_paired()) {
        None => println!("not paired"),
        Some(d) => {
            println!("paired: {}", d.jid.as_deref().unwrap_or("?"));
            println!("lid: {}", d.lid.as_deref().unwrap_or("(unknown)"));
            if let Some(platform) = &d.platform {
                println!("phone platform: {platform}");
            }
            if let Some(reason) = store.logged_out_reason()? {
                println!("LOGGED OUT by the server ({reason}): run `wa-sidecar login` again");
            }
        }
    }
    Ok(exit::OK)
}

/// How long `logout` tries to reach the server.
const LOGOUT_DEADLINE: Duration = Duration::from_secs(45);

async fn logout(config: &Config, store: Store, force: bool) -> Result<u8, StoreError> {
    let device = match store.load_device()? {
        Some(d) if d.is_paired() && store.logged_out_reason()?.is_none() => d,
        _ => {
            store.wipe()?;
            println!("not paired (any leftover local state was removed)");
            return Ok(exit::OK);
        }
    };
    let mut driver = Driver::new(driver_config(config), store.clone(), shutdown_on_signals());
    let end = tokio::time::timeout(LOGOUT_DEADLINE, driver.session(device, Goal::Logout)).await;
    let failure = match end {
        Ok(Ok(SessionEnd::LoggedOut { reason })) => {
            tracing::info!(%reason, "server confirmed the logout");
            None
        }
        Ok(Ok(SessionEnd::LogoutFailed { reason, .. })) => Some(reason),
        Ok(Ok(other)) => Some(format!("{other:?}")),
        Ok(Err(e)) => return Err(e),
        Err(_) => Some(format!("no answer within {LOGOUT_DEADLINE:?}")),
    };
    match failure {
        None => {
            store.wipe()?;
            println!("logged out; local state removed");
            Ok(exit::OK)
        }
        Some(why) if force => {
            store.wipe()?;
            println!(
                "the server did not unlink this device ({why}); local state removed anyway \
                 (--force)"
            );
            Ok(exit::OK)
        }
        Some(why) => {
            eprintln!(
                "the server did not unlink this device ({why}); local state kept. Run \
                 `wa-sidecar logout --force` to delete it anyway (the phone will still list \
                 this device)"
            );
            Ok(exit::FAILURE)
        }
    }
}

async fn run_service(config: &Config) -> u8 {
    if let Err(e) = config.require_webhook(|name| std::env::var(name).ok()) {
        eprintln!("wa-sidecar: refusing to start: {e}");
        return exit::CONFIG;
    }
    let store = match Store::open(&config.state_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wa-sidecar: {e}");
            return store_error_code(&e);
        }
    };
    let precheck = match store.logged_out_reason() {
        Ok(reason) => store.load_device().map(|d| (reason, d)),
        Err(e) => Err(e),
    };
    match precheck {
        Err(e) => {
            eprintln!("wa-sidecar: {e}");
            return store_error_code(&e);
        }
        Ok((Some(reason), _)) => {
            eprintln!("wa-sidecar: this device was logged out ({reason}); run `wa-sidecar login`");
            return exit::LOGGED_OUT;
        }
        Ok((None, device)) if !device.as_ref().is_some_and(|d| d.is_paired()) => {
            eprintln!("wa-sidecar: not paired; run `wa-sidecar login` first");
            return exit::NOT_PAIRED;
        }
        Ok(_) => {}
    }
    let options = ServiceOptions {
        webhook: config.webhook.clone(),
        send_rate_per_min: config.send_rate_per_min,
    };
    let started = Service::start_with(driver_config(config), store, config.bind, options).await;
    let mut service = match started {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wa-sidecar: {e}");
            return exit::FAILURE;
        }
    };
    let stop = shutdown_on_signals();
    let mut stop_a = stop.clone();
    let mut stop_b = stop;
    let code = tokio::select! {
        end = service.driver_finished() => match end {
            Ok(RunEnd::Shutdown) => None,
            Ok(end) => {
                // logged out / replaced: keep answering /health with the reason until stopped
                tracing::warn!(?end, "connection loop stopped; /health reports it until shutdown");
                let _ = stop_b.wait_for(|s| *s).await;
                None
            }
            Err(ServiceError::Store(e)) => {
                tracing::error!(error = %e, "state store failed; stopping");
                Some(store_error_code(&e))
            }
            Err(e) => {
                tracing::error!(error = %e, "stopping");
                Some(exit::FAILURE)
            }
        },
        _ = stop_a.wait_for(|s| *s) => None,
    };
    service.shutdown().await;
    code.unwrap_or(exit::OK)
}
