//! Runs the gateway binary as a child process with a known configuration.

use anyhow::{Context, Result, bail};
use sqlx::Connection;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Secrets the child is configured with (benchmark-only values).
pub(crate) const TWILIO_TOKEN: &str = "loadgen-twilio-auth-token";
pub(crate) const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
pub(crate) const BAILEYS_SECRET: &str = "loadgen-baileys-secret";
pub(crate) const API_TOKEN: &str = "loadgen-api-token";
pub(crate) const PUBLIC_BASE: &str = "https://gateway.example.test";

/// Which database the child uses.
pub(crate) enum Database {
    Sqlite,
    Postgres {
        server_url: String,
        db_url: String,
        name: String,
    },
}

impl Database {
    /// Creates an empty database on the server for this run.
    pub(crate) async fn fresh_postgres(server_url: &str) -> Result<Self> {
        let name = format!("loadgen_{}_{}", std::process::id(), rand::random::<u32>());
        let mut conn = sqlx::PgConnection::connect(server_url)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {server_url}"))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let base = server_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(server_url);
        Ok(Database::Postgres {
            server_url: server_url.to_owned(),
            db_url: format!("{base}/{name}"),
            name,
        })
    }

    /// Drops the database created for this run.
    pub(crate) async fn drop_database(&self) -> Result<()> {
        if let Database::Postgres {
            server_url, name, ..
        } = self
        {
            let mut conn = sqlx::PgConnection::connect(server_url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }
}

/// A running gateway child; killed on drop.
pub(crate) struct Gateway {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
}

impl Gateway {
    /// Starts the binary and waits until `/readyz` answers 200.
    pub(crate) async fn spawn(bin: &Path, data_dir: &Path, db: &Database) -> Result<Self> {
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("GATEWAY_BIND", format!("127.0.0.1:{port}"))
            .env("GATEWAY_DATA_DIR", data_dir)
            .env("PUBLIC_BASE_URL", PUBLIC_BASE)
            .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
            .env("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
            .env("TWILIO_WA_FROM", "whatsapp:+972535555555")
            .env("BAILEYS_WEBHOOK_SECRET", BAILEYS_SECRET)
            .env("GATEWAY_API_TOKEN", API_TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Database::Postgres { db_url, .. } = db {
            cmd.env("DATABASE_URL", db_url);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .timeout(Duration::from_secs(10))
            .build()?;
        let gw = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = gw.client.get(format!("{}/readyz", gw.base)).send().await
                && r.status().is_success()
            {
                return Ok(gw);
            }
            if Instant::now() > deadline {
                bail!("gateway did not become ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
