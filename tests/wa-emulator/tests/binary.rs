//! The `wa-emulator` binary prints where it listens and which root key to trust, and serves the
//! admin API there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

#[tokio::test]
async fn binary_prints_urls_and_the_seeded_root_key() {
    let seed = [7u8; 32];
    let mut child = Command::new(env!("CARGO_BIN_EXE_wa-emulator"))
        .arg("--root-seed")
        .arg(hex::encode(seed))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || {
        timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("binary printed nothing")
            .unwrap()
            .expect("binary exited")
    };
    let ws = next().await;
    let admin = next().await;
    let root = next().await;
    assert!(
        ws.starts_with("ws: ws://127.0.0.1:") && ws.ends_with("/ws/chat"),
        "{ws}"
    );
    let admin = admin.strip_prefix("admin: ").unwrap().to_owned();
    let root = root.strip_prefix("root-key: ").unwrap().to_owned();
    // The root key is the public half of the seed (X25519 clamps the scalar).
    assert_eq!(
        root,
        hex::encode(wa_crypto::KeyPair::from_private(seed).public)
    );

    let state: serde_json::Value = reqwest::get(format!("{admin}/admin/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["root_key"], root);
    assert_eq!(state["devices"], 0);
    child.kill().await.unwrap();
}
