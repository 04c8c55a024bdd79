//! Reading messages back: fetch by SID and list by recipient/sender/date (how a client resolves an
//! ambiguous send failure).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[tokio::test]
async fn fetch_returns_the_message_and_404s_unknown_sids() {
    let tw = emulator().await;
    let (_, _, m) = create(&tw, &[("To", CUSTOMER), ("From", SENDER), ("Body", "x")]).await;
    let sid = m["sid"].as_str().unwrap();
    let path = format!(
        "/2010-04-01/Accounts/{}/Messages/{sid}.json",
        tw.account_sid()
    );
    let (s, got) = get_json(&tw, &path).await;
    assert_eq!(s, 200);
    assert_eq!(got["sid"], sid);
    assert_eq!(got["body"], "x");
    let missing = format!(
        "/2010-04-01/Accounts/{}/Messages/SM{}.json",
        tw.account_sid(),
        "0".repeat(32)
    );
    let (s, b) = get_json(&tw, &missing).await;
    assert_eq!(s, 404);
    assert_eq!(b["code"], 20404);
    let r = reqwest::get(format!("{}{path}", tw.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "fetch needs auth too");
}

#[tokio::test]
async fn list_filters_by_recipient_sender_and_date() {
    let tw = emulator().await;
    let other = "whatsapp:+972509999999";
    create(&tw, &[("To", CUSTOMER), ("From", SENDER), ("Body", "one")]).await;
    create(&tw, &[("To", other), ("From", SENDER), ("Body", "two")]).await;
    create(
        &tw,
        &[("To", CUSTOMER), ("From", SENDER), ("Body", "three")],
    )
    .await;
    let base = format!("/2010-04-01/Accounts/{}/Messages.json", tw.account_sid());
    let q = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let (s, all) = get_json(&tw, &format!("{base}?To={}", q(CUSTOMER))).await;
    assert_eq!(s, 200, "{all}");
    let bodies: Vec<&str> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["three", "one"],
        "newest first, only that recipient"
    );
    let (_, from_other) =
        get_json(&tw, &format!("{base}?From={}", q("whatsapp:+15550001111"))).await;
    assert!(from_other["messages"].as_array().unwrap().is_empty());
    // DateSent>= with a date: today matches, tomorrow does not.
    let today = &chrono_free_date(0);
    let tomorrow = &chrono_free_date(86_400);
    let (_, t) = get_json(
        &tw,
        &format!("{base}?To={}&{}={today}", q(CUSTOMER), q("DateSent>")),
    )
    .await;
    assert_eq!(t["messages"].as_array().unwrap().len(), 2);
    let (_, n) = get_json(
        &tw,
        &format!("{base}?To={}&{}={tomorrow}", q(CUSTOMER), q("DateSent>")),
    )
    .await;
    assert!(n["messages"].as_array().unwrap().is_empty(), "{n}");
    let (s, _) = get_json(&tw, &format!("{base}?{}=yesterday", q("DateSent>"))).await;
    assert_eq!(s, 400);
}

/// `YYYY-MM-DD` of now + `shift` seconds, via the emulator's own formatter's inverse.
fn chrono_free_date(shift: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + shift;
    // Civil date from days (same algorithm family as the emulator, written independently here).
    let days = now.div_euclid(86_400);
    let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
    let mut left = days;
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    loop {
        let len = if leap(y) { 366 } else { 365 };
        if left < len {
            break;
        }
        left -= len;
        y += 1;
    }
    let months = [
        31,
        if leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    for (i, len) in months.iter().enumerate() {
        if left < *len {
            m = i as u32 + 1;
            d = left as u32 + 1;
            break;
        }
        left -= len;
    }
    format!("{y:04}-{m:02}-{d:02}")
}

#[tokio::test]
async fn unknown_rest_paths_get_twilios_404() {
    let tw = emulator().await;
    let (s, b) = get_json(&tw, "/2010-04-01/Accounts/AC1/Calls.json").await;
    assert_eq!(s, 404);
    assert_eq!(b["code"], 20404);
}
