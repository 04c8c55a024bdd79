//! The emulator's signed inbound webhook and status callbacks against a real gateway, and media
//! behind Basic auth with a CDN redirect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use gateway::config::{Config, TwilioConfig};
use gateway::{App, Secret};
use serde_json::{Value, json};
use twilio_emulator::TwilioEmulator;

const PUBLIC: &str = "https://gw.example.com";
const API_TOKEN: &str = "api-token-for-tests-0123456789";

async fn gateway_for(tw: &TwilioEmulator, dir: &std::path::Path) -> App {
    let mut c = Config::local(dir);
    c.twilio = Some(TwilioConfig {
        public_base_url: PUBLIC.into(),
        auth_token: Secret::new(tw.auth_token()),
        account_sid: Some(tw.account_sid().into()),
        wa_from: Some(SENDER.into()),
    });
    c.api_token = Some(Secret::new(API_TOKEN));
    gateway::build(c).await.expect("gateway starts")
}

async fn api(app: &App, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("http://{}{path}", app.local_addr()))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn signed_inbound_webhook_is_accepted_by_a_real_gateway() {
    let tw = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let app = gateway_for(&tw, dir.path()).await;
    let webhook = format!("http://{}/api/whatsapp/twilio", app.local_addr());
    let (s, cfg) = admin_post(
        &tw,
        "/admin/config",
        json!({"inbound_webhook": webhook, "public_url": format!("{PUBLIC}/api/whatsapp/twilio")}),
    )
    .await;
    assert_eq!(s, 200, "{cfg}");
    let (s, out) = admin_post(
        &tw,
        "/admin/inbound",
        json!({"from": "+972501234567", "to": SENDER, "body": "שלום, I need an appointment", "profile_name": "Dana"}),
    )
    .await;
    assert_eq!(s, 201, "{out}");
    assert_eq!(
        out["delivery"]["http_status"], 204,
        "gateway accepted it: {out}"
    );
    let sid = out["sid"].as_str().unwrap().to_owned();
    let contacts = api(&app, "/api/contacts").await;
    let contact = &contacts["contacts"].as_array().unwrap()[0];
    let id = contact["id"].as_i64().unwrap();
    let msgs = api(&app, &format!("/api/contacts/{id}/messages")).await;
    let text = msgs.to_string();
    assert!(text.contains("I need an appointment"), "{text}");
    assert!(text.contains(&sid), "{text}");

    // With the wrong public URL the signature does not match and the gateway refuses it.
    admin_post(
        &tw,
        "/admin/config",
        json!({"public_url": "https://elsewhere.example.com/api/whatsapp/twilio"}),
    )
    .await;
    let (_, out) = admin_post(
        &tw,
        "/admin/inbound",
        json!({"from": "+972501234567", "to": SENDER, "body": "again"}),
    )
    .await;
    assert_eq!(out["delivery"]["http_status"], 403, "{out}");
}

#[tokio::test]
async fn status_callbacks_are_accepted_by_a_real_gateway() {
    let tw = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let app = gateway_for(&tw, dir.path()).await;
    admin_post(
        &tw,
        "/admin/config",
        json!({"url_rewrites": {PUBLIC: format!("http://{}", app.local_addr())}}),
    )
    .await;
    // The customer writes first (window open; the inbound also creates the contact).
    admin_post(
        &tw,
        "/admin/inbound",
        json!({"from": "+972501234567", "to": SENDER, "body": "hi", "deliver": false}),
    )
    .await;
    let cb = format!("{PUBLIC}/api/whatsapp/twilio");
    let (s, _, _) = create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "x"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    assert_eq!(s, 201);
    let d = wait_for(Duration::from_secs(10), "three callbacks", || async {
        let d: Vec<_> = tw
            .deliveries()
            .into_iter()
            .filter(|d| d.kind == "status")
            .collect();
        (d.len() >= 3).then_some(d)
    })
    .await;
    for x in &d {
        // 204 stored, or 2xx "unknown message" — anything but a signature refusal.
        let code = x.http_status.unwrap();
        assert!(
            (200..300).contains(&code),
            "gateway answered {code} to {:?}",
            x.params
        );
    }
}

#[tokio::test]
async fn media_needs_basic_auth_and_redirects_to_an_unauthenticated_cdn() {
    let tw = emulator().await;
    let bytes = b"\x89PNG\r\n\x1a\nfake image bytes".to_vec();
    let rx = Receiver::start().await;
    admin_post(
        &tw,
        "/admin/config",
        json!({"inbound_webhook": format!("{}/ok/in", rx.base)}),
    )
    .await;
    let (s, out) = admin_post(
        &tw,
        "/admin/inbound",
        json!({"from": "+972501234567", "to": SENDER, "media": [{"content_type": "image/png",
            "data_base64": base64::engine::general_purpose::STANDARD.encode(&bytes)}]}),
    )
    .await;
    assert_eq!(s, 201, "{out}");
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].get("NumMedia"), Some("1"));
    assert_eq!(got[0].get("MessageType"), Some("image"));
    assert_eq!(got[0].get("MediaContentType0"), Some("image/png"));
    assert!(got[0].get("MessageSid").unwrap().starts_with("MM"));
    gateway::twilio::signature::validate(
        tw.auth_token().as_bytes(),
        &format!("{}/ok/in", rx.base),
        gateway::twilio::signature::SignedBody::Form(&got[0].params),
        got[0].signature.as_deref(),
    )
    .unwrap();
    let url = got[0].get("MediaUrl0").unwrap().to_owned();
    assert!(url.starts_with(tw.base_url()));

    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(no_redirect.get(&url).send().await.unwrap().status(), 401);
    let r = no_redirect
        .get(&url)
        .basic_auth(tw.account_sid(), Some(tw.auth_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let cdn = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        !cdn.starts_with(tw.base_url()),
        "CDN is another origin: {cdn}"
    );
    // The CDN refuses leaked credentials and serves the bytes without them.
    let leaked = no_redirect
        .get(&cdn)
        .basic_auth(tw.account_sid(), Some(tw.auth_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(leaked.status(), 400);
    let plain = no_redirect.get(&cdn).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["content-type"], "image/png");
    assert_eq!(plain.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // reqwest, following the redirect, drops Authorization on the cross-origin hop.
    let followed = reqwest::Client::new()
        .get(&url)
        .basic_auth(tw.account_sid(), Some(tw.auth_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), 200);
    assert_eq!(followed.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // Upload through the admin API; /admin/media/{sid} behaves the same.
    let r = reqwest::Client::new()
        .post(format!("{}/admin/media", tw.base_url()))
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.4".to_vec())
        .send()
        .await
        .unwrap();
    let up: Value = r.json().await.unwrap();
    let sid = up["sid"].as_str().unwrap();
    let admin_url = format!("{}/admin/media/{sid}", tw.base_url());
    assert_eq!(
        no_redirect.get(&admin_url).send().await.unwrap().status(),
        401
    );
    let body = reqwest::Client::new()
        .get(up["url"].as_str().unwrap())
        .basic_auth(tw.api_key_sid(), Some(tw.api_key_secret()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"%PDF-1.4");
}
