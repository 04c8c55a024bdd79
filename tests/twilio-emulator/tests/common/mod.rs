//! Shared helpers: an emulator, a Basic-auth client, a callback receiver, deadline-bounded waits.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use twilio_emulator::{EmulatorConfig, TwilioEmulator};

pub const SENDER: &str = "whatsapp:+14155238886";
pub const CUSTOMER: &str = "whatsapp:+972501234567";
pub const TEMPLATE: &str = "HX0123456789abcdef0123456789abcdef";

pub async fn emulator() -> TwilioEmulator {
    TwilioEmulator::start(EmulatorConfig {
        callback_step: Duration::from_millis(5),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

pub fn messages_url(tw: &TwilioEmulator) -> String {
    format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        tw.base_url(),
        tw.account_sid()
    )
}

/// POSTs a create with the account's primary credentials; returns (status, headers, JSON).
pub async fn create(tw: &TwilioEmulator, form: &[(&str, &str)]) -> (u16, HeaderMap, Value) {
    let r = reqwest::Client::new()
        .post(messages_url(tw))
        .basic_auth(tw.account_sid(), Some(tw.auth_token()))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

pub async fn get_json(tw: &TwilioEmulator, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", tw.base_url()))
        .basic_auth(tw.account_sid(), Some(tw.auth_token()))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

pub async fn admin_post(tw: &TwilioEmulator, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", tw.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

pub async fn admin_get(tw: &TwilioEmulator, path: &str) -> Value {
    reqwest::get(format!("{}{path}", tw.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub signature: Option<String>,
    pub idempotency: Option<String>,
    pub params: Vec<(String, String)>,
}

impl Captured {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP server recording every POST: `/ok/...` answers 204, `/fail/...` answers 500.
pub struct Receiver {
    pub base: String,
    pub got: Arc<Mutex<Vec<Captured>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(got): State<Arc<Mutex<Vec<Captured>>>>,
    Path((mode, rest)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    got.lock().unwrap().push(Captured {
        path: format!("/{mode}/{rest}"),
        signature: h("x-twilio-signature"),
        idempotency: h("i-twilio-idempotency-token"),
        params: form_urlencoded::parse(&body).into_owned().collect(),
    });
    if mode == "fail" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/{mode}/{*rest}", post(record))
            .with_state(got.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(l, app).await.unwrap();
        });
        Receiver { base, got, task }
    }

    pub fn captured(&self) -> Vec<Captured> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (fails after 10 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Captured> {
        wait_for(
            Duration::from_secs(10),
            &format!("{n} callbacks"),
            || async {
                let c = self.captured();
                (c.len() >= n).then_some(c)
            },
        )
        .await
    }
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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
