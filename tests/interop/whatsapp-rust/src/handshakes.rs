//! Which Noise pattern each whatsapp-rust handshake completed with, read from its own log line
//! `Handshake complete (XX|IK|XXfallback), …` (whatsapp-rust 0.7 `src/handshake.rs`, target
//! `whatsapp_rust::handshake`, level info). Installs the process logger: `env_logger` for output
//! (`RUST_LOG`, default `warn`), plus this recorder, which sees the handshake lines whatever the
//! filter says.

use std::sync::Mutex;

use log::{Log, Metadata, Record};

const TARGET: &str = "whatsapp_rust::handshake";
const PREFIX: &str = "Handshake complete (";

static COMPLETED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder {
    output: env_logger::Logger,
}

fn is_handshake(metadata: &Metadata<'_>) -> bool {
    metadata.target() == TARGET && metadata.level() <= log::Level::Info
}

impl Log for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_handshake(metadata) || self.output.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if is_handshake(record.metadata()) {
            let line = record.args().to_string();
            if let Some(rest) = line.strip_prefix(PREFIX)
                && let Some((pattern, _)) = rest.split_once(')')
                && let Ok(mut completed) = COMPLETED.lock()
            {
                completed.push(pattern.to_owned());
            }
        }
        if self.output.matches(record) {
            self.output.log(record);
        }
    }

    fn flush(&self) {
        self.output.flush();
    }
}

/// Installs the logger once per process (later calls do nothing).
pub fn init() {
    let output =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
            .is_test(true)
            .build();
    let level = output.filter().max(log::LevelFilter::Info);
    if log::set_boxed_logger(Box::new(Recorder { output })).is_ok() {
        log::set_max_level(level);
    }
}

/// Patterns of the handshakes completed so far in this process (`"XX"`, `"IK"`,
/// `"XXfallback"`), in order.
pub fn completed() -> Vec<String> {
    COMPLETED.lock().map(|c| c.clone()).unwrap_or_default()
}
