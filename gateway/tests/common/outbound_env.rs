//! A gateway wired to the Twilio emulator and a stand-in sidecar, with helpers for customers
//! writing in and for sending through `POST /api/messages`.

use std::time::Duration;

use gateway::Secret;
use gateway::config::{Config, TwilioConfig};
use serde_json::{Value, json};
use twilio_emulator::{EmulatorConfig, InboundSpec, TwilioEmulator};

use super::sidecar_stub::SidecarStub;
use super::{API_TOKEN, BASE_URL, SIDECAR_SECRET, TWILIO_URL, TestApp, start_with, wait_for};

pub const TWILIO_FROM: &str = "whatsapp:+14155238886";
pub const FAILOVER_SID: &str = "HXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

pub struct Env {
    pub app: TestApp,
    pub tw: TwilioEmulator,
    pub stub: SidecarStub,
}

/// Applies the emulator and stub addresses to a gateway configuration.
pub fn wire(c: &mut Config, tw: &TwilioEmulator, stub: &SidecarStub) {
    c.twilio = Some(TwilioConfig {
        public_base_url: BASE_URL.into(),
        auth_token: Secret::new(tw.auth_token()),
        account_sid: Some(tw.account_sid().into()),
        wa_from: Some(TWILIO_FROM.into()),
    });
    c.twilio_api_base = url::Url::parse(tw.base_url()).unwrap();
    c.baileys_outbound_url = Some(url::Url::parse(&stub.send_url()).unwrap());
    c.baileys_health_url = Some(url::Url::parse(&format!("http://{}/health", stub.addr)).unwrap());
    c.failover_content_sid = Some(FAILOVER_SID.into());
    c.twilio_send_rate = 1000;
    // Long: tests that need the monitor set it short themselves.
    c.health_check_interval = Duration::from_secs(3600);
}

/// Points the emulator's webhooks at the gateway.
pub fn point_emulator(tw: &TwilioEmulator, gateway_base: &str) {
    let base = gateway_base.to_owned();
    tw.configure(move |s| {
        s.inbound_webhook = Some(format!("{base}/api/whatsapp/twilio"));
        s.public_url = Some(TWILIO_URL.into());
        s.url_rewrites.insert(BASE_URL.into(), base.clone());
    });
    tw.add_template(FAILOVER_SID, "Hello {{1}}, a message for you: {{2}}")
        .unwrap();
}

pub async fn emulator() -> TwilioEmulator {
    TwilioEmulator::start(EmulatorConfig {
        callback_step: Duration::from_millis(5),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

pub async fn env_with(edit: impl FnOnce(&mut Config)) -> Env {
    let tw = emulator().await;
    let stub = SidecarStub::start(SIDECAR_SECRET).await;
    let app = start_with(|c| {
        wire(c, &tw, &stub);
        edit(c);
    })
    .await;
    point_emulator(&tw, &app.base);
    Env { app, tw, stub }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

pub fn now_secs() -> i64 {
    super::unix_now()
}

impl Env {
    /// The customer `digits` writes to the sidecar number, `ago_secs` ago.
    pub async fn sidecar_inbound(&self, digits: &str, id: &str, ago_secs: i64) {
        let body = json!({
            "remoteJid": format!("{digits}@s.whatsapp.net"),
            "messageId": id,
            "timestamp": now_secs() - ago_secs,
            "type": "text",
            "text": "hi from WhatsApp",
            "pushName": "Dana",
        })
        .to_string();
        assert_eq!(self.app.baileys(&body).await, 204);
    }

    /// The customer `+digits` writes to our Twilio number (through the emulator, which opens its
    /// 24-hour window and signs the webhook).
    pub async fn twilio_inbound(&self, digits: &str) {
        let before = self.app.store().raw_webhook_count().await.unwrap();
        self.tw
            .customer_sends(InboundSpec {
                from: format!("+{digits}"),
                to: TWILIO_FROM.into(),
                body: "hi from Twilio".into(),
                profile_name: Some("Dana".into()),
                media: Vec::new(),
                deliver: true,
            })
            .await
            .unwrap();
        let store = self.app.store();
        wait_for(Duration::from_secs(10), "Twilio inbound stored", || {
            let store = store.clone();
            async move { (store.raw_webhook_count().await.unwrap() > before).then_some(()) }
        })
        .await;
    }

    pub async fn send(&self, body: Value) -> (u16, Value) {
        send(&self.app, body).await
    }

    /// Waits until message `id` was accepted by a provider; returns it.
    pub async fn delivered(&self, id: i64) -> crm_store::Message {
        delivered(&self.app, id, Duration::from_secs(30)).await
    }
}

pub async fn send(app: &TestApp, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/api/messages"))
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

pub async fn delivered(app: &TestApp, id: i64, limit: Duration) -> crm_store::Message {
    let store = app.store();
    wait_for(limit, "message accepted by a provider", || {
        let store = store.clone();
        async move {
            store
                .message(id)
                .await
                .unwrap()
                .filter(|m| m.provider_message_id.is_some())
        }
    })
    .await
}
