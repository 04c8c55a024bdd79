//! A customer writes to one of the account's WhatsApp senders: the 24-hour window opens for that
//! (customer, sender) pair, and when an inbound webhook is configured Twilio's signed inbound
//! request is POSTed to it (parameters as in fact sheet A2).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::callbacks::deliver;
use crate::model::{API_VERSION, Message, Status, new_sid};
use crate::state::Delivery;
use crate::state::Shared;
use crate::validate::is_whatsapp_address;

/// One attached file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSpec {
    /// MIME type.
    pub content_type: String,
    /// Bytes, base64.
    pub data_base64: String,
}

/// Body of `POST /admin/inbound`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundSpec {
    /// Customer: `+E164` or `whatsapp:+E164`.
    pub from: String,
    /// The business sender, `whatsapp:+E164`.
    pub to: String,
    /// Text.
    #[serde(default)]
    pub body: String,
    /// WhatsApp display name.
    pub profile_name: Option<String>,
    /// Attachments.
    #[serde(default)]
    pub media: Vec<MediaSpec>,
    /// POST the webhook when configured (default true); false only records the window.
    #[serde(default = "yes")]
    pub deliver: bool,
}

fn yes() -> bool {
    true
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
pub struct InboundOutcome {
    /// `SM…`/`MM…` of the inbound message.
    pub sid: String,
    /// The message resource.
    pub message: Value,
    /// The webhook delivery (last attempt), when one was made.
    pub delivery: Option<Delivery>,
}

fn message_type(mime: &str) -> &'static str {
    match mime.split('/').next().unwrap_or("") {
        "image" => "image",
        "video" => "video",
        "audio" => "audio",
        _ => "document",
    }
}

/// Records the inbound message, opens the window, and delivers the webhook if configured.
pub async fn customer_sends(st: &Shared, spec: InboundSpec) -> Result<InboundOutcome, String> {
    let from = if spec.from.starts_with("whatsapp:") {
        spec.from.clone()
    } else {
        format!("whatsapp:{}", spec.from)
    };
    if !is_whatsapp_address(&from) {
        return Err(format!(
            "from must be +E164 or whatsapp:+E164: {}",
            spec.from
        ));
    }
    if !is_whatsapp_address(&spec.to) {
        return Err(format!("to must be whatsapp:+E164: {}", spec.to));
    }
    if !st.lock().settings.senders.contains(&spec.to) {
        return Err(format!(
            "to is not one of this account's senders: {}",
            spec.to
        ));
    }
    let mut files = Vec::with_capacity(spec.media.len());
    for m in &spec.media {
        files.push((
            m.content_type.clone(),
            crate::admin::decode_b64(&m.data_base64)?,
        ));
    }
    let sid = new_sid(if files.is_empty() { "SM" } else { "MM" });
    let mut media = Vec::with_capacity(files.len());
    for (ct, bytes) in files {
        let media_sid = crate::media::store(st, &ct, bytes);
        media.push((crate::media::media_url(st, &sid, &media_sid), ct));
    }
    let now = st.clock.now();
    let message = Message {
        sid: sid.clone(),
        account_sid: st.account_sid.clone(),
        messaging_service_sid: None,
        from: from.clone(),
        to: spec.to.clone(),
        body: spec.body.clone(),
        direction: "inbound",
        status: Status::Received,
        media_urls: media.iter().map(|(u, _)| u.clone()).collect(),
        content_sid: None,
        content_variables: None,
        status_callback: None,
        error_code: None,
        error_message: None,
        date_created: now,
        date_updated: now,
        date_sent: Some(now),
        history: vec![Status::Received],
        media_fetches: Vec::new(),
    };
    let json = message.to_json();
    let webhook = {
        let mut guard = st.lock();
        guard.windows.insert((from.clone(), spec.to.clone()), now);
        guard.messages.push(message);
        let s = &guard.settings;
        s.inbound_webhook
            .clone()
            .map(|actual| s.public_url.clone().unwrap_or(actual))
    };
    let delivery = match webhook.filter(|_| spec.deliver) {
        None => None,
        Some(url) => {
            let wa_id = from.trim_start_matches("whatsapp:+").to_owned();
            let mut p: Vec<(String, String)> = vec![
                ("SmsMessageSid".into(), sid.clone()),
                ("NumMedia".into(), media.len().to_string()),
                (
                    "ProfileName".into(),
                    spec.profile_name.clone().unwrap_or_else(|| "~".into()),
                ),
                (
                    "MessageType".into(),
                    media
                        .first()
                        .map_or("text", |(_, ct)| message_type(ct))
                        .into(),
                ),
                ("SmsSid".into(), sid.clone()),
                ("WaId".into(), wa_id),
                ("SmsStatus".into(), "received".into()),
                ("Body".into(), spec.body.clone()),
                ("To".into(), spec.to.clone()),
                ("NumSegments".into(), "1".into()),
                ("ReferralNumMedia".into(), "0".into()),
                ("MessageSid".into(), sid.clone()),
                ("AccountSid".into(), st.account_sid.clone()),
                ("From".into(), from.clone()),
                ("ApiVersion".into(), API_VERSION.into()),
            ];
            for (i, (u, ct)) in media.iter().enumerate() {
                p.push((format!("MediaContentType{i}"), ct.clone()));
                p.push((format!("MediaUrl{i}"), u.clone()));
            }
            Some(deliver(st, "inbound", &url, p).await)
        }
    };
    Ok(InboundOutcome {
        sid,
        message: json,
        delivery,
    })
}
