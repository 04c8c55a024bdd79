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
