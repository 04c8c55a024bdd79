//! Shared helpers for the gateway's HTTP tests: a gateway on 127.0.0.1:0 over a temporary
//! SQLite store, signing helpers and deadline-bounded waits.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod flaky;
pub mod outbound_env;
pub mod process;
pub mod sidecar_stub;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::config::{Config, TwilioConfig};
use gateway::twilio::signature;
use gateway::{App, Secret};
use serde_json::Value;

pub const BASE_URL: &str = "https://gw.example.com";
pub const AUTH_TOKEN: &str = "twilio-auth-token-test";
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const SIDECAR_SECRET: &str = "sidecar-shared-secret";
pub const API_TOKEN: &str = "api-token-for-tests-0123456789";
pub const TWILIO_URL: &str = "https://gw.example.com/api/whatsapp/twilio";

pub struct TestApp {
    pub app: App,
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::local(dir);
    c.twilio = Some(TwilioConfig {
        public_base_url: BASE_URL.into(),
        auth_token: Secret::new(AUTH_TOKEN),
        account_sid: Some(ACCOUNT_SID.into()),
        wa_from: Some("whatsapp:+14155238886".into()),
    });
    c.baileys_webhook_secret = Some(Secret::new(SIDECAR_SECRET));
    c.api_token = Some(Secret::new(API_TOKEN));
    c
}

pub async fn start() -> TestApp {
    start_with(|_| {}).await
}

pub async fn start_with(edit: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    edit(&mut config);
    let app = gateway::build(config).await.expect("gateway starts");
    wrap(app, dir)
}

pub async fn start_on_store(store: Arc<dyn crm_store::Store>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let app = gateway::build_with_store(test_config(dir.path()), store)
        .await
        .expect("gateway starts");
    wrap(app, dir)
}

fn wrap(app: App, dir: tempfile::TempDir) -> TestApp {
    let base = format!("http://{}", app.local_addr());
    TestApp {
        app,
        base,
        client: reqwest::Client::new(),
        dir,
    }
}

pub fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn encode(p: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p.iter())
        .finish()
}

/// Signature computed by our own validator (for tests that are not about the signature).
pub fn sign(url: &str, p: &[(String, String)]) -> String {
    signature::compute(AUTH_TOKEN.as_bytes(), url, p)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a signed Twilio form webhook; returns the status.
    pub async fn twilio(&self, p: &[(&str, &str)]) -> u16 {
        let p = pairs(p);
        let sig = sign(TWILIO_URL, &p);
        self.twilio_raw(&p, Some(&sig), None).await
    }

    pub async fn twilio_raw(
        &self,
        p: &[(String, String)],
        sig: Option<&str>,
        idempotency: Option<&str>,
    ) -> u16 {
        let mut req = self
            .client
            .post(self.url("/api/whatsapp/twilio"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(p));
        if let Some(s) = sig {
            req = req.header("X-Twilio-Signature", s);
        }
        if let Some(t) = idempotency {
            req = req.header("I-Twilio-Idempotency-Token", t);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// POSTs a sidecar webhook with the shared secret and a fresh HMAC signature.
    pub async fn baileys(&self, body: &str) -> u16 {
        let ts = unix_now();
        let sig = shared::signature::sign(SIDECAR_SECRET.as_bytes(), ts, body.as_bytes());
        self.client
            .post(self.url("/api/whatsapp/baileys"))
            .header("content-type", "application/json")
            .header("X-BAILEYS-SECRET", SIDECAR_SECRET)
            .header("X-BAILEYS-TIMESTAMP", ts.to_string())
            .header("X-BAILEYS-SIGNATURE", sig)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn contacts(&self) -> Vec<Value> {
        self.get_json("/api/contacts").await["contacts"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn messages(&self, contact_id: i64) -> Vec<Value> {
        self.get_json(&format!("/api/contacts/{contact_id}/messages"))
            .await["messages"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn events(&self) -> Vec<Value> {
        self.get_json("/api/events?limit=500").await["events"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn store(&self) -> Arc<dyn crm_store::Store> {
        self.app.state().store.clone()
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls `check` until it returns `Some`, failing the test after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
