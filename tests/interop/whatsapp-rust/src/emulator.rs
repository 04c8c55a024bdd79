//! The `wa-emulator` binary as a child process, and a minimal HTTP/1.1 client for its admin API.
//!
//! The binary prints three lines on stdout when it is listening (see
//! `tests/wa-emulator/src/bin/wa-emulator.rs`): `ws: <url>`, `admin: <url>`, `root-key: <hex>`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// How long the emulator may take to print its addresses.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long one admin request may take (`/admin/scan` waits for the companion's signature).
const ADMIN_DEADLINE: Duration = Duration::from_secs(60);

/// Where the emulator binary is: `WA_EMULATOR_BIN`, else the root workspace's debug build.
pub fn emulator_bin() -> PathBuf {
    match std::env::var_os("WA_EMULATOR_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../target/debug/wa-emulator"),
    }
}

/// A running emulator; killed when dropped.
pub struct EmulatorProcess {
    child: Child,
    /// `ws://127.0.0.1:PORT/ws/chat`.
    pub ws_url: String,
    /// `http://127.0.0.1:PORT` (admin API).
    pub admin_url: String,
    /// The emulator's Noise root public key, hex.
    pub root_key: String,
}

impl EmulatorProcess {
    /// Starts the binary on free ports and waits until it printed its addresses.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = emulator_bin();
        if !bin.is_file() {
            bail!(
                "no emulator binary at {} (build it with `cargo build -p wa-emulator --bin \
                 wa-emulator` in the repository root, or set WA_EMULATOR_BIN)",
                bin.display()
            );
        }
        let mut command = Command::new(&bin);
        if std::env::var_os("RUST_LOG").is_none() {
            // Its stderr is not captured by the test harness: only warnings unless asked.
            command.env("RUST_LOG", "wa_emulator=warn");
        }
        let mut child = command
            .env("WA_EMULATOR_WS_BIND", "127.0.0.1:0")
            .env("WA_EMULATOR_ADMIN_BIND", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("emulator stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut ws_url, mut admin_url, mut root_key) = (None, None, None);
        let read = async {
            while ws_url.is_none() || admin_url.is_none() || root_key.is_none() {
                let Some(line) = lines.next_line().await? else {
                    bail!("the emulator exited before printing its addresses");
                };
                if let Some(v) = line.strip_prefix("ws: ") {
                    ws_url = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("admin: ") {
                    admin_url = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("root-key: ") {
                    root_key = Some(v.trim().to_owned());
                }
            }
            Ok(())
        };
        tokio::time::timeout(START_DEADLINE, read)
            .await
            .context("the emulator did not print its addresses in time")??;
        Ok(Self {
            child,
            ws_url: ws_url.context("ws url")?,
            admin_url: admin_url.context("admin url")?,
            root_key: root_key.context("root key")?,
        })
    }

    /// `POST {admin}{path}` with a JSON body; the status and the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.request("POST", path, Some(body)).await
    }

    /// `GET {admin}{path}`; the status and the JSON answer.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.request("GET", path, None).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let host = self
            .admin_url
            .strip_prefix("http://")
            .context("admin url is not http://")?
            .trim_end_matches('/')
            .to_owned();
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let exchange = async {
            let mut stream = TcpStream::connect(&host).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await?;
            anyhow::Ok(raw)
        };
        let raw = tokio::time::timeout(ADMIN_DEADLINE, exchange)
            .await
            .with_context(|| format!("{method} {path} timed out"))??;
        parse_response(&raw).with_context(|| format!("{method} {path}"))
    }

    /// Kills the emulator and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Splits an HTTP/1.1 response (with `Content-Length`, as axum sends for JSON) into status and
/// JSON body.
fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, Value)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).context("headers are not UTF-8")?;
    let body = &raw[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .context("no status line")?
        .parse::<u16>()
        .context("bad status code")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("chunked responses are not expected from the admin API");
    }
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).context("body is not JSON")?
    };
    Ok((status, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_json_response() {
        let raw = b"HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{\"error\":\"x\"}";
        let (status, body) = parse_response(raw).expect("parse");
        assert_eq!(status, 409);
        assert_eq!(body["error"], "x");
    }

    #[test]
    fn refuses_a_response_without_header_end() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
