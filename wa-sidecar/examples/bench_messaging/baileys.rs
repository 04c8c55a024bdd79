//! The Baileys side: `tests/interop/baileys/msg_bench.mjs` (unmodified Baileys in Node) as a
//! child process, driven by lines on stdin and read by lines on stdout.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// `tests/interop/baileys`.
pub(crate) fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/baileys")
}

/// What the driver printed after a `batch` command.
#[derive(Debug, Deserialize)]
pub(crate) struct BatchResult {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) ms: f64,
    pub(crate) error: Option<String>,
}

/// One running `node msg_bench.mjs`.
pub(crate) struct Baileys {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Baileys {
    /// Starts the driver against `ws_url`, forwarding what it receives to `webhook`.
    pub(crate) fn spawn(
        ws_url: &str,
        auth: &Path,
        webhook: &str,
        secret: &str,
    ) -> anyhow::Result<Self> {
        let dir = driver_dir();
        if !dir.join("node_modules/@whiskeysockets/baileys").is_dir() {
            bail!("{}/node_modules missing: run `npm ci` there", dir.display());
        }
        let mut child = Command::new("node")
            .arg("msg_bench.mjs")
            .arg(ws_url)
            .arg(auth)
            .arg(webhook)
            .arg(secret)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawning node")?;
        let stdout = child.stdout.take().context("stdout")?;
        let stdin = child.stdin.take().context("stdin")?;
        Ok(Baileys {
            child,
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
        })
    }

    pub(crate) fn pid(&self) -> anyhow::Result<u32> {
        crate::procs::pid(&self.child)
    }

    /// Reads lines until one starts with `prefix`; returns the rest. `fwd-error` lines are
    /// echoed to stderr on the way.
    pub(crate) async fn expect(
        &mut self,
        prefix: &str,
        within: Duration,
    ) -> anyhow::Result<String> {
        tokio::time::timeout(within, async {
            while let Some(line) = self.lines.next_line().await? {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Ok(rest.trim().to_owned());
                }
                if line.starts_with("fwd-error") {
                    eprintln!("baileys driver: {line}");
                }
            }
            bail!("the Baileys driver exited before `{prefix}`")
        })
        .await
        .with_context(|| format!("no `{prefix}` from the Baileys driver within {within:?}"))?
    }

    pub(crate) async fn command(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// `batch`: `n` texts `<tag>-<i>` to `jid` with `k` workers; waits for the result.
    pub(crate) async fn batch(
        &mut self,
        jid: &str,
        n: usize,
        k: usize,
        tag: &str,
        within: Duration,
    ) -> anyhow::Result<BatchResult> {
        self.command(&format!("batch {jid} {n} {k} {tag}")).await?;
        let line = self.expect("batch ", within).await?;
        serde_json::from_str(&line).context("batch result is not JSON")
    }

    /// Graceful stop: closing stdin makes it save its auth state and exit.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        self.expect("stopped", crate::procs::START).await?;
        tokio::time::timeout(crate::procs::START, self.child.wait()).await??;
        Ok(())
    }
}
