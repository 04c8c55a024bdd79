//! Crash safety of the outbox: the gateway binary is SIGKILLed while messages are being
//! delivered to the Twilio emulator (slow answers, some answers lost after Twilio created the
//! message); after a restart on the same data folder every message is delivered exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twilio_emulator::{EmulatorConfig, FaultSpec, InboundSpec, TwilioEmulator};

use common::process::{GatewayProcess, wait_ready};

const API_TOKEN: &str = "outbound-crash-api-token";
const PUBLIC: &str = "https://gw.example.com";
const FROM: &str = "whatsapp:+14155238886";
const CUSTOMER: &str = "+972503334455";
const N: usize = 24;

/// The gateway's configuration against the Twilio emulator.
fn gateway_env(tw: &TwilioEmulator) -> Vec<(&'static str, String)> {
    vec![
        ("GATEWAY_API_TOKEN", API_TOKEN.to_owned()),
        ("PUBLIC_BASE_URL", PUBLIC.to_owned()),
        ("TWILIO_AUTH_TOKEN", tw.auth_token().to_owned()),
        ("TWILIO_ACCOUNT_SID", tw.account_sid().to_owned()),
        ("TWILIO_WA_FROM", FROM.to_owned()),
        ("TWILIO_API_BASE", tw.base_url().to_owned()),
        ("TWILIO_SEND_RATE", "20".to_owned()),
    ]
}

async fn outbound_with_sid(client: &reqwest::Client, base: &str) -> Option<usize> {
    let contacts: Value = client
        .get(format!("{base}/api/contacts"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let id = contacts["contacts"][0]["id"].as_i64()?;
    let msgs: Value = client
        .get(format!("{base}/api/contacts/{id}/messages?limit=500"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        msgs["messages"]
            .as_array()?
            .iter()
            .filter(|m| m["direction"] == "outbound" && m["provider_message_id"].is_string())
            .count(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_delivery_every_message_goes_out_exactly_once() {
    let tw = TwilioEmulator::start(EmulatorConfig {
        callback_step: Duration::from_millis(5),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let b2 = base.clone();
    tw.configure(move |s| {
        s.inbound_webhook = Some(format!("{b2}/api/whatsapp/twilio"));
        s.public_url = Some(format!("{PUBLIC}/api/whatsapp/twilio"));
        s.url_rewrites.insert(PUBLIC.into(), b2.clone());
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let gw = GatewayProcess::spawn(dir.path(), port, &gateway_env(&tw));
    wait_ready(&client, &base).await;
    // The customer writes to our Twilio number: free-form replies are allowed.
    tw.customer_sends(InboundSpec {
        from: CUSTOMER.into(),
        to: FROM.into(),
        body: "hello".into(),
        profile_name: None,
        media: Vec::new(),
        deliver: true,
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while outbound_with_sid(&client, &base).await.is_none() {
        assert!(Instant::now() < deadline, "inbound never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Slow answers, and the first answers lost after Twilio created the message.
    tw.fault(FaultSpec::Delay {
        delay_ms: 150,
        count: None,
    })
    .unwrap();
    tw.fault(FaultSpec::DropAfterCreate { count: 3 }).unwrap();
    for i in 0..N {
        let r = client
            .post(format!("{base}/api/messages"))
            .bearer_auth(API_TOKEN)
            .json(&json!({"to": CUSTOMER, "text": format!("crash {i}"), "idempotencyKey": format!("crash-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    // Kill once some, but not all, messages reached Twilio.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tw.messages().len() < 5 {
        assert!(Instant::now() < deadline, "deliveries did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(gw); // SIGKILL
    let at_kill = tw.messages().len();
    assert!(
        at_kill < N,
        "the kill came too late to test anything ({at_kill})"
    );

    tw.fault(FaultSpec::Delay {
        delay_ms: 0,
        count: Some(0),
    })
    .unwrap();
    let _gw = GatewayProcess::spawn(dir.path(), port, &gateway_env(&tw));
    wait_ready(&client, &base).await;
    // Entries leased by the killed process are due again after their lease (30 s).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if outbound_with_sid(&client, &base).await == Some(N) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every message was delivered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut bodies: Vec<String> = tw.messages().into_iter().map(|m| m.body).collect();
    bodies.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("crash {i}")).collect();
    want.sort();
    assert_eq!(bodies, want, "each message exactly once at Twilio");
}
