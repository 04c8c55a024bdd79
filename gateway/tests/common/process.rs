//! The real `gateway` binary as a child process (for crash tests): a clean environment plus the
//! variables a test gives, killed with SIGKILL when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running gateway binary; `drop` kills it with SIGKILL (std's `Child::kill`) and reaps it.
pub struct GatewayProcess {
    child: Child,
}

impl GatewayProcess {
    /// Starts the binary on `127.0.0.1:port` over `data_dir` with `env` added.
    pub fn spawn(data_dir: &Path, port: u16, env: &[(&str, String)]) -> GatewayProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("GATEWAY_BIND", format!("127.0.0.1:{port}"))
            .env("GATEWAY_DATA_DIR", data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        GatewayProcess {
            child: cmd.spawn().expect("gateway binary starts"),
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (30 s at most) until `GET {base}/readyz` answers 200.
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gateway not ready within 30 s");
}
