//! Running the real `wa-sidecar` binary against an emulator: the command with a clean
//! environment, and its output with a deadline.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;
use wa_emulator::EmulatorHandle;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wa-sidecar");

/// `wa-sidecar` with only the variables it needs: the emulator's URL and root key, the state
/// dir, warnings on stderr. stdout and stderr are piped.
pub fn sidecar(emu: &EmulatorHandle, url: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("WA_WS_URL", url)
        .env("WA_STATE_DIR", dir)
        .env("WA_DANGER_TRUST_ROOT_KEY", emu.root_public_key_hex())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `cmd` to its end within `deadline`: exit status, stdout, stderr.
pub async fn output_within(mut cmd: Command, deadline: Duration) -> (ExitStatus, String, String) {
    let out = tokio::time::timeout(deadline, cmd.output())
        .await
        .expect("command timed out")
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads `lines` until one starts with `prefix`; returns the rest of that line and everything
/// read so far. Panics (naming what was printed) if the output ends or `deadline` passes first.
pub async fn line_with_prefix<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    prefix: &str,
    deadline: Duration,
) -> (String, String) {
    let mut printed = String::new();
    let found = tokio::time::timeout(deadline, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push_str(&line);
            printed.push('\n');
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.to_owned());
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(rest)) => (rest, printed),
        Ok(None) => panic!("output ended without a `{prefix}` line: {printed}"),
        Err(_) => panic!("no `{prefix}` line within {deadline:?}: {printed}"),
    }
}

/// Reads the rest of `lines`, then waits for `child` to exit (each within `deadline`): the exit
/// status and what was printed.
pub async fn rest_and_exit<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    child: &mut tokio::process::Child,
    deadline: Duration,
) -> (ExitStatus, String) {
    let rest = tokio::time::timeout(deadline, async {
        let mut rest = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    })
    .await
    .expect("output did not end");
    let status = tokio::time::timeout(deadline, child.wait())
        .await
        .expect("process did not exit")
        .unwrap();
    (status, rest)
}

/// Waits until `GET http://127.0.0.1:{port}/health` answers 200; panics if `child` exits or
/// `deadline` passes first.
pub async fn wait_healthy(
    child: &mut tokio::process::Child,
    port: u16,
    deadline: Duration,
) -> serde_json::Value {
    let url = format!("http://127.0.0.1:{port}/health");
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Ok(r) = reqwest::get(&url).await
            && r.status() == 200
        {
            return r.json().await.unwrap();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("wa-sidecar run exited with {status}");
        }
        assert!(
            tokio::time::Instant::now() < end,
            "/health never became 200"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A free local TCP port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
