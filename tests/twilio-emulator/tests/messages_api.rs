//! The REST surface: create (happy path, JSON shape), Basic auth, validation errors, templates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn create_answers_201_with_twilios_message_shape() {
    let tw = emulator().await;
    let (status, _, m) = create(
        &tw,
        &[("To", CUSTOMER), ("From", SENDER), ("Body", "שלום Dana")],
    )
    .await;
    assert_eq!(status, 201, "{m}");
    let sid = m["sid"].as_str().unwrap();
    assert!(sid.starts_with("SM") && is_hex32(&sid[2..]), "{sid}");
    assert_eq!(m["status"], "queued");
    assert_eq!(m["account_sid"], tw.account_sid());
    assert_eq!(m["from"], SENDER);
    assert_eq!(m["to"], CUSTOMER);
    assert_eq!(m["body"], "שלום Dana");
    assert_eq!(m["num_media"], "0");
    assert_eq!(m["num_segments"], "1");
    assert_eq!(m["direction"], "outbound-api");
    assert_eq!(m["api_version"], "2010-04-01");
    assert_eq!(m["error_code"], Value::Null);
    assert_eq!(m["messaging_service_sid"], Value::Null);
    assert_eq!(m["date_sent"], Value::Null);
    let created = m["date_created"].as_str().unwrap();
    // RFC 2822, e.g. "Sun, 22 Nov 2026 05:00:07 +0000".
    assert!(
        created.ends_with(" +0000") && created.len() == 31 && &created[3..5] == ", ",
        "{created}"
    );
    assert_eq!(
        m["uri"],
        format!(
            "/2010-04-01/Accounts/{}/Messages/{sid}.json",
            tw.account_sid()
        )
    );
    assert_eq!(
        m["subresource_uris"]["media"],
        format!(
            "/2010-04-01/Accounts/{}/Messages/{sid}/Media.json",
            tw.account_sid()
        )
    );
    let sent = tw.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sid, sid);
    let admin = admin_get(&tw, "/admin/messages").await;
    assert_eq!(admin["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn media_send_gets_an_mm_sid_and_counts_media() {
    let tw = emulator().await;
    let (status, _, m) = create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("MediaUrl", "https://cdn.example.com/a.jpg"),
            ("MediaUrl", "https://cdn.example.com/b.pdf"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{m}");
    assert!(m["sid"].as_str().unwrap().starts_with("MM"));
    assert_eq!(m["num_media"], "2");
    assert_eq!(m["body"], "");
}

#[tokio::test]
async fn messaging_service_send_starts_accepted_and_uses_the_sender() {
    let tw = emulator().await;
    let svc = "MG0123456789abcdef0123456789abcdef";
    let (status, _, m) = create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("MessagingServiceSid", svc),
            ("Body", "x"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["status"], "accepted");
    assert_eq!(m["messaging_service_sid"], svc);
    assert_eq!(m["from"], SENDER);
}

#[tokio::test]
async fn bad_credentials_get_401_with_code_20003() {
    let tw = emulator().await;
    let c = reqwest::Client::new();
    let form = [("To", CUSTOMER), ("From", SENDER), ("Body", "x")];
    let attempts = [
        c.post(messages_url(&tw)).form(&form),
        c.post(messages_url(&tw))
            .basic_auth(tw.account_sid(), Some("wrong-token"))
            .form(&form),
        c.post(messages_url(&tw))
            .basic_auth(tw.api_key_sid(), Some(tw.auth_token()))
            .form(&form),
        c.post(messages_url(&tw))
            .header("authorization", "Basic !!!not-base64")
            .form(&form),
    ];
    for req in attempts {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["code"], 20003);
        assert_eq!(b["status"], 401);
        assert_eq!(b["message"], "Authenticate");
        assert_eq!(b["more_info"], "https://www.twilio.com/docs/errors/20003");
    }
    // Right credentials, someone else's account in the path.
    let other = format!(
        "{}/2010-04-01/Accounts/AC{}/Messages.json",
        tw.base_url(),
        "f".repeat(32)
    );
    let r = c
        .post(other)
        .basic_auth(tw.account_sid(), Some(tw.auth_token()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        tw.messages().is_empty(),
        "nothing may be created without auth"
    );
}

#[tokio::test]
async fn api_key_credentials_are_accepted() {
    let tw = emulator().await;
    let r = reqwest::Client::new()
        .post(messages_url(&tw))
        .basic_auth(tw.api_key_sid(), Some(tw.api_key_secret()))
        .form(&[("To", CUSTOMER), ("From", SENDER), ("Body", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn each_invalid_parameter_gets_twilios_code() {
    let tw = emulator().await;
    tw.add_template(TEMPLATE, "Hello {{1}}").unwrap();
    let long = "א".repeat(1601);
    let ok_1600 = "x".repeat(1600);
    let unknown_tpl = format!("HX{}", "b".repeat(32));
    let cases: Vec<(Vec<(&str, &str)>, u32)> = vec![
        (vec![("From", SENDER), ("Body", "x")], 21604),
        (vec![("To", CUSTOMER), ("Body", "x")], 21603),
        (
            vec![
                ("To", "whatsapp:972501234567"),
                ("From", SENDER),
                ("Body", "x"),
            ],
            21211,
        ),
        (
            vec![("To", "whatsapp:+12"), ("From", SENDER), ("Body", "x")],
            21211,
        ),
        (
            vec![("To", "not a number"), ("From", SENDER), ("Body", "x")],
            21211,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", "whatsapp:14155238886"),
                ("Body", "x"),
            ],
            21212,
        ),
        (
            vec![("To", CUSTOMER), ("From", "+14155238886"), ("Body", "x")],
            21212,
        ),
        (
            vec![("To", "+972501234567"), ("From", SENDER), ("Body", "x")],
            21910,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", "whatsapp:+15005550006"),
                ("Body", "x"),
            ],
            63007,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("MessagingServiceSid", "MG123"),
                ("Body", "x"),
            ],
            21701,
        ),
        (vec![("To", CUSTOMER), ("From", SENDER)], 21619),
        (
            vec![("To", CUSTOMER), ("From", SENDER), ("Body", &long)],
            21617,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", SENDER),
                ("MediaUrl", "ftp://x/a.jpg"),
            ],
            21620,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", SENDER),
                ("MediaUrl", "not a url"),
            ],
            21620,
        ),
        (
            vec![("To", CUSTOMER), ("From", SENDER), ("ContentSid", "HX123")],
            21655,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", SENDER),
                ("ContentSid", &unknown_tpl),
            ],
            21655,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", SENDER),
                ("ContentSid", TEMPLATE),
                ("ContentVariables", "{\"1\":"),
            ],
            21656,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", SENDER),
                ("ContentSid", TEMPLATE),
                ("ContentVariables", "{\"1\":5}"),
            ],
            21656,
        ),
        (
            vec![("To", CUSTOMER), ("From", SENDER), ("ContentSid", TEMPLATE)],
            21656,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", SENDER),
                ("ContentSid", TEMPLATE),
                ("Body", "x"),
                ("ContentVariables", "{\"1\":\"a\"}"),
            ],
            21619,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", SENDER),
                ("Body", "x"),
                ("StatusCallback", "https://bad_host.example.com/cb"),
            ],
            21609,
        ),
        (
            vec![
                ("To", CUSTOMER),
                ("From", SENDER),
                ("Body", "x"),
                ("StatusCallback", "/relative"),
            ],
            21609,
        ),
    ];
    let eleven: Vec<(&str, &str)> = std::iter::once(("To", CUSTOMER))
        .chain(std::iter::once(("From", SENDER)))
        .chain(std::iter::repeat_n(
            ("MediaUrl", "https://cdn.example.com/a.jpg"),
            11,
        ))
        .collect();
    let mut cases = cases;
    cases.push((eleven, 21623));
    for (form, code) in &cases {
        let (status, _, b) = create(&tw, form).await;
        assert_eq!(status, 400, "{form:?} -> {b}");
        assert_eq!(b["code"], *code, "{form:?} -> {b}");
        assert_eq!(b["status"], 400);
        assert_eq!(
            b["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
        assert!(!b["message"].as_str().unwrap().is_empty());
    }
    assert!(
        tw.messages().is_empty(),
        "a refused request creates nothing"
    );
    let (status, _, _) = create(
        &tw,
        &[("To", CUSTOMER), ("From", SENDER), ("Body", &ok_1600)],
    )
    .await;
    assert_eq!(status, 201, "exactly 1600 characters is allowed");
}

#[tokio::test]
async fn template_renders_variables_into_the_body() {
    let tw = emulator().await;
    tw.add_template(TEMPLATE, "Hello {{1}}, your visit is at {{2}}")
        .unwrap();
    let (status, _, m) = create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("ContentSid", TEMPLATE),
            ("ContentVariables", r#"{"1":"Ana","2":"10:30"}"#),
        ],
    )
    .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["body"], "Hello Ana, your visit is at 10:30");
    assert_eq!(tw.messages()[0].content_sid.as_deref(), Some(TEMPLATE));
}

#[tokio::test]
async fn admin_template_registration_validates_the_sid() {
    let tw = emulator().await;
    let (s, _) = admin_post(
        &tw,
        "/admin/templates",
        serde_json::json!({"sid": "HX1", "body": "x"}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = admin_post(
        &tw,
        "/admin/templates",
        serde_json::json!({"sid": TEMPLATE, "body": "Hi {{1}}", "variables": {"1": "friend"}}),
    )
    .await;
    assert_eq!(s, 201);
    let (status, _, m) = create(
        &tw,
        &[("To", CUSTOMER), ("From", SENDER), ("ContentSid", TEMPLATE)],
    )
    .await;
    assert_eq!(
        status, 201,
        "default variable values fill the template: {m}"
    );
    assert_eq!(m["body"], "Hi friend");
}
