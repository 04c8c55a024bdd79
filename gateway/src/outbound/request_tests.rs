//! Validation of `POST /api/messages` bodies.

use super::*;
use serde_json::json;

fn body(v: Value) -> SendBody {
    serde_json::from_value(v).unwrap()
}

fn field_of(v: Value) -> &'static str {
    validate(&body(v)).unwrap_err().field
}

const SID: &str = "HX0123456789abcdef0123456789abcdef";

#[test]
fn accepts_each_content_and_recipient_form() {
    let r = validate(&body(
        json!({"to": "+972 50-123-4567", "text": "שלום", "idempotencyKey": "k1"}),
    ))
    .unwrap();
    assert_eq!(r.recipient, Recipient::Phone("+972501234567".into()));
    assert_eq!(r.content.kind(), "text");
    let r = validate(&body(json!({
        "to": "972501234567:3@s.whatsapp.net",
        "media": {"url": "https://cdn.example/a.jpg", "mime": "image/jpeg", "caption": "c"},
        "idempotencyKey": "k2", "provider": "Baileys"
    })))
    .unwrap();
    assert!(
        matches!(&r.recipient, Recipient::Jid(j) if j.to_string() == "972501234567@s.whatsapp.net")
    );
    assert_eq!(r.forced, Some(Provider::Baileys));
    let r = validate(&body(json!({
        "contactId": 7, "template": {"contentSid": SID, "variables": {"1": "Ana", "2": 10}},
        "idempotencyKey": "k3"
    })))
    .unwrap();
    assert_eq!(r.recipient, Recipient::Contact(7));
    assert!(matches!(&r.content, Content::Template { variables, .. } if variables["2"] == "10"));
}

#[test]
fn refusals_name_the_field() {
    let cases = [
        (
            json!({"to": "hello", "text": "x", "idempotencyKey": "k"}),
            "to",
        ),
        (
            json!({"to": "123@g.us", "text": "x", "idempotencyKey": "k"}),
            "to",
        ),
        (json!({"text": "x", "idempotencyKey": "k"}), "to"),
        (
            json!({"to": "+972501234567", "contactId": 1, "text": "x", "idempotencyKey": "k"}),
            "to",
        ),
        (
            json!({"contactId": -1, "text": "x", "idempotencyKey": "k"}),
            "contactId",
        ),
        (
            json!({"to": "+972501234567", "text": "x"}),
            "idempotencyKey",
        ),
        (
            json!({"to": "+972501234567", "text": "x", "idempotencyKey": ""}),
            "idempotencyKey",
        ),
        (
            json!({"to": "+972501234567", "text": "x", "template": {"contentSid": SID}, "idempotencyKey": "k"}),
            "text",
        ),
        (
            json!({"to": "+972501234567", "text": "   ", "idempotencyKey": "k"}),
            "text",
        ),
        (
            json!({"to": "+972501234567", "idempotencyKey": "k"}),
            "text",
        ),
        (
            json!({"to": "+972501234567", "text": "x".repeat(MAX_TEXT_CHARS + 1), "idempotencyKey": "k"}),
            "text",
        ),
        (
            json!({"to": "+972501234567", "media": {"url": "ftp://h/x"}, "idempotencyKey": "k"}),
            "media.url",
        ),
        (
            json!({"to": "+972501234567", "media": {"url": "file:///etc/passwd"}, "idempotencyKey": "k"}),
            "media.url",
        ),
        (
            json!({"to": "+972501234567", "media": {"url": "https://h/x", "caption": "c".repeat(MAX_CAPTION_CHARS + 1)}, "idempotencyKey": "k"}),
            "media.caption",
        ),
        (
            json!({"to": "+972501234567", "media": {"url": "https://h/x", "mime": "jpeg"}, "idempotencyKey": "k"}),
            "media.mime",
        ),
        (
            json!({"to": "+972501234567", "template": {"contentSid": "HX123"}, "idempotencyKey": "k"}),
            "template.contentSid",
        ),
        (
            json!({"to": "+972501234567", "template": {"contentSid": format!("HX{}", "g".repeat(32))}, "idempotencyKey": "k"}),
            "template.contentSid",
        ),
        (
            json!({"to": "+972501234567", "template": {"contentSid": SID, "variables": [1]}, "idempotencyKey": "k"}),
            "template.variables",
        ),
        (
            json!({"to": "+972501234567", "text": "x", "idempotencyKey": "k", "provider": "sms"}),
            "provider",
        ),
        (
            json!({"to": 972501234567u64, "text": "x", "idempotencyKey": "k"}),
            "to",
        ),
    ];
    for (v, field) in cases {
        assert_eq!(field_of(v.clone()), field, "{v}");
    }
}

#[test]
fn hash_ignores_the_key_but_not_the_content() {
    let a = validate(&body(
        json!({"to": "+972501234567", "text": "x", "idempotencyKey": "k1"}),
    ))
    .unwrap();
    let b = validate(&body(
        json!({"to": "972501234567", "text": "x", "idempotencyKey": "k2"}),
    ))
    .unwrap();
    let c = validate(&body(
        json!({"to": "+972501234567", "text": "y", "idempotencyKey": "k1"}),
    ))
    .unwrap();
    assert_eq!(a.hash(), b.hash());
    assert_ne!(a.hash(), c.hash());
}
