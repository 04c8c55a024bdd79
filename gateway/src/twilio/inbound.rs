//! Turning Twilio's webhook parameters into store records: an inbound message or a status
//! callback. Parameter names: Twilio's messaging webhook docs (reference sheet A2, A6).

use crm_store::{
    Identity, IdentityKind, MessageStatus, Millis, NewInboundMessage, PendingMedia, Provider,
    RawWebhook, StatusUpdate,
};
use serde_json::{Map, Value};

use super::form::Form;

/// Most attachments a WhatsApp message carries through Twilio.
const MAX_MEDIA: usize = 10;

/// What a Twilio webhook means.
#[derive(Debug, Clone, PartialEq)]
pub enum TwilioEvent {
    /// A customer's message.
    Inbound(Box<NewInboundMessage>),
    /// A delivery status of one of our messages.
    Status(StatusUpdate),
}

/// Why the parameters do not make a usable event. Always the sender's fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    /// A required parameter is absent or empty.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A parameter has a value we cannot use.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// Parameters that only an inbound message carries.
const INBOUND_MARKERS: &[&str] = &[
    "Body",
    "NumMedia",
    "MediaUrl0",
    "ProfileName",
    "WaId",
    "Latitude",
    "ButtonText",
    "ButtonPayload",
    "MessageType",
];

/// Classifies and maps a verified webhook.
pub fn interpret(form: &Form, raw: RawWebhook, now: Millis) -> Result<TwilioEvent, MapError> {
    let status_word = form
        .non_empty("MessageStatus")
        .or_else(|| form.non_empty("SmsStatus"))
        .map(str::to_ascii_lowercase);
    let has_inbound_fields = INBOUND_MARKERS.iter().any(|n| form.get(n).is_some());
    let is_status = match status_word.as_deref() {
        Some("received" | "receiving") | None => false,
        Some(_) => !has_inbound_fields,
    };
    let sid = form
        .non_empty("MessageSid")
        .or_else(|| form.non_empty("SmsMessageSid"))
        .or_else(|| form.non_empty("SmsSid"))
        .ok_or(MapError::Missing("MessageSid"))?
        .trim()
        .to_owned();
    if sid.len() > 64 || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(MapError::Invalid("MessageSid"));
    }
    if is_status {
        let word = status_word.unwrap_or_default();
        let status = MessageStatus::parse(&word).ok_or(MapError::Invalid("MessageStatus"))?;
        return Ok(TwilioEvent::Status(StatusUpdate {
            provider: Provider::Twilio,
            provider_message_id: sid,
            status,
            error_code: form.non_empty("ErrorCode").map(str::to_owned),
            at: now,
            raw,
        }));
    }
    inbound(form, sid, raw).map(|m| TwilioEvent::Inbound(Box::new(m)))
}

fn strip_channel(addr: &str) -> &str {
    let a = addr.trim();
    a.strip_prefix("whatsapp:").unwrap_or(a)
}

/// `+E164` when `s` is a phone number in international form.
fn as_e164(s: &str) -> Option<String> {
    let s = s.trim();
    let intl = s.starts_with('+') || s.bytes().all(|b| b.is_ascii_digit());
    if !intl {
        return None;
    }
    let with_plus = if s.starts_with('+') {
        s.to_owned()
    } else {
        format!("+{s}")
    };
    shared::normalize_phone(&with_plus, None)
        .ok()
        .map(|d| format!("+{d}"))
}

fn push_identity(ids: &mut Vec<Identity>, kind: IdentityKind, value: String) {
    let id = Identity { kind, value };
    if !ids.contains(&id) {
        ids.push(id);
    }
}

fn inbound(form: &Form, sid: String, raw: RawWebhook) -> Result<NewInboundMessage, MapError> {
    let from = form.non_empty("From").map(strip_channel);
    let to = form.non_empty("To").ok_or(MapError::Missing("To"))?;
    let business_number = strip_channel(to).to_owned();

    let mut identities = Vec::new();
    if let Some(wa_id) = form.non_empty("WaId") {
        let e164 = as_e164(wa_id).ok_or(MapError::Invalid("WaId"))?;
        push_identity(&mut identities, IdentityKind::E164, e164);
    }
    if let Some(f) = from {
        match as_e164(f) {
            Some(e164) => push_identity(&mut identities, IdentityKind::E164, e164),
            None => push_identity(&mut identities, IdentityKind::TwilioUserId, f.to_owned()),
        }
    }
    for name in ["ExternalUserId", "ExternalUserIdentifier"] {
        if let Some(v) = form.non_empty(name) {
            push_identity(
                &mut identities,
                IdentityKind::TwilioUserId,
                strip_channel(v).to_owned(),
            );
        }
    }
    if identities.is_empty() {
        return Err(MapError::Missing("From"));
    }

    let num_media = match form.non_empty("NumMedia") {
        None => 0,
        Some(n) => n
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_MEDIA)
            .ok_or(MapError::Invalid("NumMedia"))?,
    };
    let mut media = Vec::with_capacity(num_media);
    for i in 0..num_media {
        let url = form
            .non_empty(&format!("MediaUrl{i}"))
            .ok_or(MapError::Missing("MediaUrlN"))?;
        let parsed = url::Url::parse(url).map_err(|_| MapError::Invalid("MediaUrlN"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(MapError::Invalid("MediaUrlN"));
        }
        media.push(PendingMedia {
            index: i32::try_from(i).map_err(|_| MapError::Invalid("NumMedia"))?,
            url: url.to_owned(),
            content_type: form
                .non_empty(&format!("MediaContentType{i}"))
                .map(str::to_owned),
        });
    }

    let kind = match form.non_empty("MessageType") {
        Some(k) => k.trim().to_ascii_lowercase(),
        None if !media.is_empty() => "media".to_owned(),
        None if form.non_empty("Latitude").is_some() => "location".to_owned(),
        None if form.non_empty("ButtonPayload").is_some() => "button".to_owned(),
        None => "text".to_owned(),
    };

    Ok(NewInboundMessage {
        provider: Provider::Twilio,
        business_number,
        provider_message_id: sid,
        identities,
        display_name: form
            .non_empty("ProfileName")
            .map(str::trim)
            .filter(|n| *n != "~")
            .map(str::to_owned),
        kind,
        body: form.non_empty("Body").map(str::to_owned),
        attributes: attributes(form),
        provider_timestamp: None,
        media,
        raw,
    })
}

fn group(form: &Form, fields: &[(&str, &str)]) -> Option<Value> {
    let mut obj = Map::new();
    for (param, key) in fields {
        if let Some(v) = form.non_empty(param) {
            obj.insert((*key).to_owned(), Value::String(v.to_owned()));
        }
    }
    (!obj.is_empty()).then_some(Value::Object(obj))
}

fn flag(form: &Form, name: &str) -> Option<Value> {
    form.non_empty(name)
        .map(|v| Value::Bool(v.trim().eq_ignore_ascii_case("true")))
}

/// Everything beyond the core fields a CRM user would want, as a JSON object.
fn attributes(form: &Form) -> Value {
    let mut a = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            a.insert(k.to_owned(), v);
        }
    };
    put(
        "button",
        group(
            form,
            &[("ButtonText", "text"), ("ButtonPayload", "payload")],
        ),
    );
    put(
        "reply_to",
        group(
            form,
            &[
                ("OriginalRepliedMessageSid", "sid"),
                ("OriginalRepliedMessageSender", "sender"),
            ],
        ),
    );
    put(
        "location",
        group(
            form,
            &[
                ("Latitude", "latitude"),
                ("Longitude", "longitude"),
                ("Address", "address"),
                ("Label", "label"),
            ],
        ),
    );
    let mut referral = Map::new();
    for (k, v) in form.pairs() {
        if let Some(rest) = k.strip_prefix("Referral")
            && !rest.is_empty()
            && !v.is_empty()
        {
            referral.insert(k.clone(), Value::String(v.clone()));
        }
    }
    put(
        "referral",
        (!referral.is_empty()).then_some(Value::Object(referral)),
    );
    put("forwarded", flag(form, "Forwarded"));
    put("frequently_forwarded", flag(form, "FrequentlyForwarded"));
    put(
        "channel_metadata",
        form.non_empty("ChannelMetadata").map(|raw| {
            serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }),
    );
    put(
        "messaging_service_sid",
        form.non_empty("MessagingServiceSid")
            .map(|v| Value::String(v.to_owned())),
    );
    put(
        "num_segments",
        form.non_empty("NumSegments")
            .map(|v| Value::String(v.to_owned())),
    );
    Value::Object(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawWebhook {
        RawWebhook {
            provider: Provider::Twilio,
            route: "/api/whatsapp/twilio".into(),
            content_type: "application/x-www-form-urlencoded".into(),
            body: Vec::new(),
            idempotency_token: None,
            received_at: 1,
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::from_pairs(pairs.iter().copied())
    }

    fn inbound_of(pairs: &[(&str, &str)]) -> NewInboundMessage {
        match interpret(&form(pairs), raw(), 5).unwrap() {
            TwilioEvent::Inbound(m) => *m,
            other => panic!("expected inbound, got {other:?}"),
        }
    }

    #[test]
    fn text_message_maps_identities_and_name() {
        let m = inbound_of(&[
            ("MessageSid", "SM0001"),
            ("SmsStatus", "received"),
            ("From", "whatsapp:+972501234567"),
            ("To", "whatsapp:+14155238886"),
            ("WaId", "972501234567"),
            ("ProfileName", "דנה"),
            ("Body", "שלום"),
            ("NumMedia", "0"),
        ]);
        assert_eq!(m.provider_message_id, "SM0001");
        assert_eq!(m.business_number, "+14155238886");
        assert_eq!(
            m.identities,
            vec![Identity {
                kind: IdentityKind::E164,
                value: "+972501234567".into()
            }]
        );
        assert_eq!(m.display_name.as_deref(), Some("דנה"));
        assert_eq!(m.body.as_deref(), Some("שלום"));
        assert_eq!(m.kind, "text");
        assert!(m.media.is_empty());
    }

    #[test]
    fn bsuid_sender_becomes_twilio_user_id() {
        let m = inbound_of(&[
            ("MessageSid", "SM0002"),
            ("From", "whatsapp:US.13491208655302741918"),
            ("To", "whatsapp:+14155238886"),
            ("ExternalUserId", "whatsapp:US.13491208655302741918"),
            ("Body", "hi"),
        ]);
        assert_eq!(
            m.identities,
            vec![Identity {
                kind: IdentityKind::TwilioUserId,
                value: "US.13491208655302741918".into()
            }]
        );
    }

    #[test]
    fn media_location_button_referral_attributes() {
        let m = inbound_of(&[
            ("MessageSid", "MM0003"),
            ("From", "whatsapp:+972501234567"),
            ("To", "whatsapp:+14155238886"),
            ("NumMedia", "2"),
            (
                "MediaUrl0",
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
            ),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://api.twilio.com/x/ME2"),
            ("Latitude", "32.08"),
            ("Longitude", "34.78"),
            ("Label", "Office"),
            ("ButtonText", "Yes"),
            ("ButtonPayload", "confirm"),
            ("OriginalRepliedMessageSid", "SM99"),
            ("ReferralSourceId", "ad1"),
            ("ReferralCtwaClid", "clid"),
            ("Forwarded", "true"),
            (
                "ChannelMetadata",
                r#"{"type":"whatsapp","data":{"context":{"WaId":"1"}}}"#,
            ),
        ]);
        assert_eq!(m.kind, "media");
        assert_eq!(m.media.len(), 2);
        assert_eq!(m.media[0].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(m.media[1].index, 1);
        let a = &m.attributes;
        assert_eq!(a["location"]["latitude"], "32.08");
        assert_eq!(a["location"]["label"], "Office");
        assert_eq!(a["button"]["payload"], "confirm");
        assert_eq!(a["reply_to"]["sid"], "SM99");
        assert_eq!(a["referral"]["ReferralSourceId"], "ad1");
        assert_eq!(a["referral"]["ReferralCtwaClid"], "clid");
        assert_eq!(a["forwarded"], true);
        assert_eq!(a["channel_metadata"]["type"], "whatsapp");
    }

    #[test]
    fn status_callback_classified() {
        let e = interpret(
            &form(&[
                ("MessageSid", "SM0004"),
                ("MessageStatus", "undelivered"),
                ("SmsStatus", "undelivered"),
                ("ErrorCode", "63016"),
                ("From", "whatsapp:+14155238886"),
                ("To", "whatsapp:+972501234567"),
            ]),
            raw(),
            77,
        )
        .unwrap();
        match e {
            TwilioEvent::Status(s) => {
                assert_eq!(s.status, MessageStatus::Undelivered);
                assert_eq!(s.error_code.as_deref(), Some("63016"));
                assert_eq!(s.provider_message_id, "SM0004");
                assert_eq!(s.at, 77);
            }
            other => panic!("expected status, got {other:?}"),
        }
    }

    #[test]
    fn refuses_unusable_input() {
        let e = |p: &[(&str, &str)]| interpret(&form(p), raw(), 0).unwrap_err();
        assert_eq!(
            e(&[("From", "whatsapp:+972501234567")]),
            MapError::Missing("MessageSid")
        );
        assert_eq!(
            e(&[("MessageSid", "SM1"), ("From", "+972501234567")]),
            MapError::Missing("To")
        );
        assert_eq!(
            e(&[("MessageSid", "SM1"), ("To", "whatsapp:+1415")]),
            MapError::Missing("From")
        );
        assert_eq!(
            e(&[
                ("MessageSid", "SM1"),
                ("To", "x"),
                ("From", "+972501234567"),
                ("NumMedia", "a")
            ]),
            MapError::Invalid("NumMedia")
        );
        assert_eq!(
            e(&[
                ("MessageSid", "SM1"),
                ("To", "x"),
                ("From", "+972501234567"),
                ("NumMedia", "1")
            ]),
            MapError::Missing("MediaUrlN")
        );
        assert_eq!(
            e(&[("MessageSid", "SM1"), ("MessageStatus", "exploded")]),
            MapError::Invalid("MessageStatus")
        );
        assert_eq!(
            e(&[("MessageSid", "SM 1"), ("MessageStatus", "sent")]),
            MapError::Invalid("MessageSid")
        );
    }
}
