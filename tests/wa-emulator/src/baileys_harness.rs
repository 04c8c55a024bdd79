//! Test support: drives the UNMODIFIED Baileys harness (`tests/interop/baileys/harness.mjs`, a
//! Node process) from Rust tests. The harness prints `qr-data: <qr>` (or, pairing by phone
//! number, `pairing-code: <code>`), `open <jid>`,
//! `message <json>`, `close <code>` and `stopped` lines, and takes `send <jid> <text>` on stdin.
//! Every wait has a deadline; failures panic with what the harness printed, failing the test.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::{Instant, timeout_at};

/// Per-step deadline: Baileys itself finishes each step in a second or two.
pub const STEP: Duration = Duration::from_secs(60);

/// `tests/interop/baileys` in this repository.
pub fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/baileys")
}

/// Whether the npm peer is installed. When it is not: panics under `CI` (CI must run it),
/// otherwise prints a notice and returns false so the test can return early.
pub fn ready() -> bool {
    if harness_dir()
        .join("node_modules/@whiskeysockets/baileys")
        .is_dir()
    {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "tests/interop/baileys/node_modules missing: run `npm ci` there (CI must)"
    );
    eprintln!("NOTICE: skipping Baileys interop: run `npm ci` in tests/interop/baileys");
    false
}

/// One running `node harness.mjs` process and the lines it printed.
pub struct BaileysHarness {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl BaileysHarness {
    /// Starts Baileys against `ws_url` with its auth state in `auth_dir`. Baileys' log level
    /// comes from `BAILEYS_LOG_LEVEL` (default `fatal`).
    pub fn spawn(ws_url: &str, auth_dir: &Path) -> Self {
        Self::spawn_with(ws_url, auth_dir, &[])
    }

    /// Like [`Self::spawn`], but an unpaired Baileys links by phone number: it calls
    /// `requestPairingCode(phone)` and prints `pairing-code: <code>` instead of QR data.
    pub fn spawn_pairing_by_code(ws_url: &str, auth_dir: &Path, phone: &str) -> Self {
        Self::spawn_with(ws_url, auth_dir, &["--pair-phone", phone])
    }

    fn spawn_with(ws_url: &str, auth_dir: &Path, options: &[&str]) -> Self {
        let mut child = Command::new("node")
            .arg("harness.mjs")
            .arg(ws_url)
            .arg(auth_dir)
            .args(options)
            .current_dir(harness_dir())
            .env(
                "BAILEYS_LOG_LEVEL",
                std::env::var("BAILEYS_LOG_LEVEL").unwrap_or_else(|_| "fatal".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning node");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = child.stdin.take().expect("stdin is piped");
        Self {
            child,
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// Reads lines until one starts with `prefix`; returns the rest of it. Panics at the
    /// deadline or when the process ends, showing what it printed.
    pub async fn expect(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let line = match timeout_at(deadline, self.lines.next_line()).await {
                Err(_) => panic!("no `{prefix}` line within {STEP:?}; saw {:?}", self.seen),
                Ok(Err(e)) => panic!("reading harness output: {e}"),
                Ok(Ok(None)) => panic!("harness exited before `{prefix}`; saw {:?}", self.seen),
                Ok(Ok(Some(line))) => line,
            };
            self.seen.push(line.clone());
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    /// Every line the harness printed so far (read by [`Self::expect`]).
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Sends one command line to the harness (e.g. `send <jid> <text>`).
    pub async fn command(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("harness stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("writing to the harness");
        stdin.flush().await.expect("flushing the harness's stdin");
    }

    /// Waits for a received text message; returns it as JSON.
    pub async fn message(&mut self) -> serde_json::Value {
        let line = self.expect("message ").await;
        serde_json::from_str(&line).expect("harness prints messages as JSON")
    }

    /// Graceful stop: closing stdin makes the harness finish writing its auth state and exit.
    pub async fn stop(mut self) {
        drop(self.stdin.take());
        self.expect("stopped").await;
        if timeout_at(Instant::now() + STEP, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
            panic!("harness did not exit after `stopped`");
        }
    }

    /// Waits for a harness that exits on its own (e.g. after a logout); returns its status.
    pub async fn reap(mut self) -> ExitStatus {
        timeout_at(Instant::now() + STEP, self.child.wait())
            .await
            .expect("harness still running")
            .expect("waiting for the harness")
    }
}
