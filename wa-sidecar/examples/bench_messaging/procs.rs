//! Child processes of the bench: the release `wa-sidecar` and `gateway` binaries, and what
//! /proc says about a process (resident memory, CPU time).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Deadline for a process to start or stop.
pub(crate) const START: Duration = Duration::from_secs(60);

/// A binary of this workspace's `target/release` (next to `examples/`), or `$<env>`.
pub(crate) fn release_bin(name: &str, env: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(name))
        .context("cannot locate the target directory")?;
    if !bin.exists() {
        bail!(
            "{} not found: cargo build --release -p gateway -p wa-sidecar --bins",
            bin.display()
        );
    }
    Ok(bin)
}

/// A free loopback port (bound, read, released).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Resident memory of a process, KiB: (VmRSS now, VmHWM = peak so far).
pub(crate) fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} missing in /proc/{pid}/status"))?;
        line.split_whitespace()
            .nth(1)
            .context("empty line")?
            .parse()
            .context("not a number")
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// User + system CPU time of a process so far.
pub(crate) fn cpu_time(pid: u32, ticks_per_sec: u64) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; fields after its closing ')' are plain.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ')'.
    let ticks: u64 = [11, 12]
        .iter()
        .map(|&i| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    Ok(Duration::from_secs_f64(ticks as f64 / ticks_per_sec as f64))
}

/// `getconf CLK_TCK` (the unit of /proc's CPU times).
pub(crate) fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Process id of a running child.
pub(crate) fn pid(child: &Child) -> anyhow::Result<u32> {
    child.id().context("the process has exited")
}

/// Starts the gateway binary on a fresh SQLite store in `data`; returns once `/readyz` is 200.
pub(crate) async fn start_gateway(
    bin: &Path,
    data: &Path,
    port: u16,
    secret: &str,
    token: &str,
) -> anyhow::Result<Child> {
    let mut child = Command::new(bin)
        .env_clear()
        .env("GATEWAY_BIND", format!("127.0.0.1:{port}"))
        .env("GATEWAY_DATA_DIR", data)
        .env("GATEWAY_API_TOKEN", token)
        .env("BAILEYS_WEBHOOK_SECRET", secret)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let url = format!("http://127.0.0.1:{port}/readyz");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + START;
    loop {
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
        {
            return Ok(child);
        }
        if let Some(status) = child.try_wait()? {
            bail!("gateway exited at start-up: {status}");
        }
        if tokio::time::Instant::now() > deadline {
            bail!("gateway not ready within {START:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the sidecar process needs to know.
pub(crate) struct SidecarEnv<'a> {
    pub(crate) ws_url: &'a str,
    pub(crate) root_key_hex: &'a str,
    pub(crate) state_dir: &'a Path,
    pub(crate) port: u16,
    pub(crate) webhook_target: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) send_rate_per_min: u32,
}

/// Starts `wa-sidecar run`; returns once it logged `connected`. Its log is drained in the
/// background; warnings and errors are echoed to stderr.
pub(crate) async fn start_sidecar(bin: &Path, env: &SidecarEnv<'_>) -> anyhow::Result<Child> {
    let mut child = Command::new(bin)
        .arg("run")
        .env_clear()
        .env("WA_WS_URL", env.ws_url)
        .env("WA_STATE_DIR", env.state_dir)
        .env("WA_DANGER_TRUST_ROOT_KEY", env.root_key_hex)
        .env("SIDECAR_BIND", format!("127.0.0.1:{}", env.port))
        .env("BAILEYS_WEBHOOK_TARGET", env.webhook_target)
        .env("BAILEYS_WEBHOOK_SECRET", env.secret)
        .env("WA_SEND_RATE_PER_MIN", env.send_rate_per_min.to_string())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    tokio::time::timeout(START, async {
        while let Some(line) = lines.next_line().await? {
            if line.contains(" connected") && line.contains("jid=") {
                tokio::spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.contains("WARN") || line.contains("ERROR") {
                            eprintln!("wa-sidecar: {line}");
                        }
                    }
                });
                return Ok(());
            }
        }
        bail!("wa-sidecar exited before connecting")
    })
    .await
    .context("wa-sidecar did not connect in time")??;
    Ok(child)
}

/// SIGTERM, then wait for the exit.
pub(crate) async fn stop(mut child: Child) -> anyhow::Result<()> {
    if let Some(pid) = child.id() {
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
    }
    tokio::time::timeout(START, child.wait()).await??;
    Ok(())
}
