//! End to end through the real gateway: a customer's WhatsApp (a second wa-sidecar on the
//! emulator) writes to the business's wa-sidecar, which forwards signed to an in-process gateway
//! that stores it in the CRM timeline exactly once — also across a gateway outage and restart;
//! and a reply sent through the gateway's `POST /api/messages` goes out through the business's
//! sidecar and is decrypted by the customer's device.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::recorder::{Recorder, SECRET};
use common::service::start_service;
use common::*;
use gateway::config::{Config, ProviderMode};
use serde_json::{Value, json};
use wa_sidecar::Service;

const CUSTOMER: &str = "972509999888";
const API_TOKEN: &str = "e2e-api-token";

fn gateway_config(data: &Path, bind: SocketAddr, sidecar: SocketAddr) -> Config {
    let mut c = Config::local(data);
    c.bind = bind;
    c.provider = ProviderMode::Baileys;
    c.baileys_webhook_secret = Some(gateway::Secret::new(SECRET));
    c.baileys_outbound_url = Some(format!("http://{sidecar}/send").parse().unwrap());
    c.baileys_health_url = Some(format!("http://{sidecar}/health").parse().unwrap());
    c.health_check_interval = Duration::from_secs(1);
    c.api_token = Some(gateway::Secret::new(API_TOKEN));
    c
}

async fn api(base: &str, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// Every (body, provider, direction) in the timeline of the contact with phone `+digits`.
async fn timeline(base: &str, digits: &str) -> Vec<(String, String, String)> {
    let contacts = api(base, "/api/contacts?limit=100").await;
    let list = contacts
        .as_array()
        .cloned()
        .or_else(|| contacts["contacts"].as_array().cloned())
        .unwrap_or_default();
    let phone = format!("+{digits}");
    let Some(c) = list.iter().find(|c| {
        c["identities"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["value"] == phone.as_str())
    }) else {
        return Vec::new();
    };
    let msgs = api(
        base,
        &format!("/api/contacts/{}/messages?limit=100", c["id"]),
    )
    .await;
    let msgs = msgs
        .as_array()
        .cloned()
        .or_else(|| msgs["messages"].as_array().cloned())
        .unwrap_or_default();
    msgs.iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
            (s("body"), s("provider"), s("direction"))
        })
        .collect()
}

async fn wait_timeline(
    base: &str,
    digits: &str,
    want: impl Fn(&[(String, String, String)]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let t = timeline(base, digits).await;
        if want(&t) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timeline never matched; it is {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn customer_sends(svc: &Service, text: &str, key: &str) {
    let r = reqwest::Client::new()
        .post(format!("http://{}/send", svc.http_addr()))
        .header(shared::SECRET_HEADER, SECRET)
        .json(&json!({"to": PHONE, "type": "text", "text": text, "idempotencyKey": key}))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customer_to_crm_exactly_once_across_gateway_restart_and_reply_back() {
    let emu = emulator().await;
    let (biz_dir, cust_dir, gw_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    pair_as(&emu, biz_dir.path(), PHONE).await;
    pair_as(&emu, cust_dir.path(), CUSTOMER).await;

    // The gateway's address is fixed up front so the sidecar's target survives its restart.
    let bind = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let base = format!("http://{bind}");
    let target = format!("{base}/api/whatsapp/baileys");
    let business = start_service(&emu, biz_dir.path(), &target, 600).await;
    let customer_hook = Recorder::start().await;
    let customer = start_service(&emu, cust_dir.path(), &customer_hook.url, 600).await;
    let gw = gateway::build(gateway_config(gw_dir.path(), bind, business.http_addr()))
        .await
        .unwrap();

    // Customer → business sidecar → gateway → CRM timeline.
    customer_sends(&customer, "שלום, יש לכם תור פנוי מחר?", "c1").await;
    wait_timeline(&base, CUSTOMER, |t| {
        t.iter().any(|m| m.0 == "שלום, יש לכם תור פנוי מחר?")
    })
    .await;

    // Gateway down: the customer writes again; the sidecar keeps it in its outbox.
    gw.shutdown().await.unwrap();
    customer_sends(&customer, "ועוד שאלה בזמן שהשרת למטה", "c2").await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while health(business.http_addr()).await.1["outboxBacklog"] == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "message never reached the business sidecar's outbox"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Gateway back on the same data: the held message arrives, and each message is there once.
    let _gw = gateway::build(gateway_config(gw_dir.path(), bind, business.http_addr()))
        .await
        .unwrap();
    wait_timeline(&base, CUSTOMER, |t| {
        t.iter().any(|m| m.0 == "ועוד שאלה בזמן שהשרת למטה")
    })
    .await;
    let t = timeline(&base, CUSTOMER).await;
    for text in ["שלום, יש לכם תור פנוי מחר?", "ועוד שאלה בזמן שהשרת למטה"]
    {
        let n = t
            .iter()
            .filter(|m| m.0 == text && m.1 == "baileys" && m.2 == "inbound")
            .count();
        assert_eq!(n, 1, "{text:?} stored {n} times: {t:?}");
    }

    // Reply through the gateway's API → business sidecar → emulator → the customer's device.
    let r = reqwest::Client::new()
        .post(format!("{base}/api/messages"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"to": format!("+{CUSTOMER}"), "text": "כן, ב-10:00 מתאים?", "idempotencyKey": "reply-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let got = customer_hook.wait_text("כן, ב-10:00 מתאים?").await;
    assert_eq!(got["remoteJid"], format!("{PHONE}@s.whatsapp.net"));
    wait_timeline(&base, CUSTOMER, |t| {
        t.iter()
            .any(|m| m.0 == "כן, ב-10:00 מתאים?" && m.1 == "baileys" && m.2 == "outbound")
    })
    .await;
}
