//! The body of `POST /api/messages`, validated: every refusal names the field.

use std::collections::BTreeMap;

use crm_store::Provider;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::{Jid, JidServer};

/// Longest text (WhatsApp's limit).
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest media caption (WhatsApp's limit).
pub const MAX_CAPTION_CHARS: usize = 1024;
/// Longest idempotency key.
pub const MAX_KEY_CHARS: usize = 200;
/// Most template variables (Twilio's limit).
pub const MAX_VARIABLES: usize = 100;

/// The JSON body as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    /// E.164 number or JID.
    #[serde(default)]
    pub to: Option<Value>,
    /// A contact id, instead of `to`.
    #[serde(default)]
    pub contact_id: Option<Value>,
    /// Free-form text.
    #[serde(default)]
    pub text: Option<Value>,
    /// Media `{url, mime, caption}`.
    #[serde(default)]
    pub media: Option<Value>,
    /// Template `{contentSid, variables}`.
    #[serde(default)]
    pub template: Option<Value>,
    /// Required.
    #[serde(default)]
    pub idempotency_key: Option<Value>,
    /// `twilio` or `baileys`.
    #[serde(default)]
    pub provider: Option<Value>,
}

/// A field the caller got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct FieldError {
    /// JSON field (dotted path).
    pub field: &'static str,
    /// What is wrong.
    pub why: String,
}

fn bad(field: &'static str, why: impl Into<String>) -> FieldError {
    FieldError {
        field,
        why: why.into(),
    }
}

/// Who the message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// An existing contact.
    Contact(i64),
    /// `+E164`.
    Phone(String),
    /// A person JID (`…@s.whatsapp.net` or `…@lid`), without device.
    Jid(Jid),
}

/// What is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    /// Free-form text.
    Text {
        /// The text.
        text: String,
    },
    /// A file by URL.
    Media {
        /// http(s) URL.
        url: String,
        /// MIME type, when given.
        mime: Option<String>,
        /// Caption.
        caption: Option<String>,
    },
    /// An approved Twilio template.
    Template {
        /// `HX` + 32 hex.
        content_sid: String,
        /// Variables.
        variables: BTreeMap<String, String>,
    },
}

impl Content {
    /// Kind for routing.
    pub fn policy_kind(&self) -> super::policy::Content {
        match self {
            Content::Text { .. } => super::policy::Content::Text,
            Content::Media { .. } => super::policy::Content::Media,
            Content::Template { .. } => super::policy::Content::Template,
        }
    }

    /// `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Text { .. } => "text",
            Content::Media { .. } => "media",
            Content::Template { .. } => "template",
        }
    }

    /// Text or caption.
    pub fn body(&self) -> Option<String> {
        match self {
            Content::Text { text } => Some(text.clone()),
            Content::Media { caption, .. } => caption.clone(),
            Content::Template { .. } => None,
        }
    }
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// Recipient.
    pub recipient: Recipient,
    /// Content.
    pub content: Content,
    /// Caller's idempotency key.
    pub idempotency_key: String,
    /// Forced provider.
    pub forced: Option<Provider>,
}

fn string(field: &'static str, v: &Value) -> Result<String, FieldError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad(field, "must be a string"))
}

fn opt_string(field: &'static str, v: Option<&Value>) -> Result<Option<String>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string(field, v).map(Some),
    }
}

fn present(v: &Option<Value>) -> Option<&Value> {
    v.as_ref().filter(|v| !v.is_null())
}

/// Parses `to`: `+972…` / `972…` (digits with separators), or a person JID.
pub fn parse_recipient(s: &str) -> Result<Recipient, FieldError> {
    let s = s.trim();
    if s.contains('@') {
        let jid = Jid::parse(s).map_err(|e| bad("to", format!("not a valid JID ({e})")))?;
        return match jid.server {
            JidServer::User | JidServer::Lid => Ok(Recipient::Jid(jid.to_non_ad())),
            _ => Err(bad(
                "to",
                "only person JIDs (s.whatsapp.net, lid) can be messaged",
            )),
        };
    }
    let digits = shared::normalize_phone(s, None).map_err(|e| {
        bad(
            "to",
            format!("not an E.164 number or JID ({e}); expected +972501234567 or 972501234567@s.whatsapp.net"),
        )
    })?;
    Ok(Recipient::Phone(format!("+{digits}")))
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .unwrap_or(false)
}

/// `HX` followed by 32 hex digits.
pub fn is_content_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("HX") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_media(v: &Value) -> Result<Content, FieldError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("media", "must be an object {url, mime, caption}"))?;
    let url =
        opt_string("media.url", obj.get("url"))?.ok_or_else(|| bad("media.url", "is required"))?;
    if !is_http_url(url.trim()) {
        return Err(bad("media.url", "must be an http(s) URL with a host"));
    }
    let mime = opt_string("media.mime", obj.get("mime"))?;
    if let Some(m) = &mime {
        let ok = m.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && m.len() <= 100 && !m.contains(char::is_whitespace)
        });
        if !ok {
            return Err(bad("media.mime", "must be a MIME type like image/jpeg"));
        }
    }
    let caption = opt_string("media.caption", obj.get("caption"))?.filter(|c| !c.is_empty());
    if caption
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_CAPTION_CHARS)
    {
        return Err(bad(
            "media.caption",
            format!("longer than {MAX_CAPTION_CHARS} characters"),
        ));
    }
    Ok(Content::Media {
        url: url.trim().to_owned(),
        mime,
        caption,
    })
}

fn parse_template(v: &Value) -> Result<Content, FieldError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("template", "must be an object {contentSid, variables}"))?;
    let sid = opt_string("template.contentSid", obj.get("contentSid"))?
        .ok_or_else(|| bad("template.contentSid", "is required"))?;
    if !is_content_sid(sid.trim()) {
        return Err(bad(
            "template.contentSid",
            "must be HX followed by 32 hex digits",
        ));
    }
    let mut variables = BTreeMap::new();
    match obj.get("variables") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            if map.len() > MAX_VARIABLES {
                return Err(bad("template.variables", "at most 100 variables"));
            }
            for (k, v) in map {
                if k.is_empty() || k.len() > 16 {
                    return Err(bad(
                        "template.variables",
                        "names must be 1 to 16 characters",
                    ));
                }
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(bad("template.variables", "values must be strings")),
                };
                if text.chars().count() > MAX_CAPTION_CHARS {
                    return Err(bad("template.variables", "a value is too long"));
                }
                variables.insert(k.clone(), text);
            }
        }
        Some(_) => return Err(bad("template.variables", "must be an object")),
    }
    Ok(Content::Template {
        content_sid: sid.trim().to_owned(),
        variables,
    })
}

/// Validates a request body.
pub fn validate(body: &SendBody) -> Result<SendRequest, FieldError> {
    let key = match present(&body.idempotency_key) {
        None => return Err(bad("idempotencyKey", "is required")),
        Some(v) => string("idempotencyKey", v)?,
    };
    let key = key.trim().to_owned();
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        return Err(bad(
            "idempotencyKey",
            "must be 1 to 200 characters without control characters",
        ));
    }
    let recipient = match (present(&body.to), present(&body.contact_id)) {
        (Some(_), Some(_)) => return Err(bad("to", "give either to or contactId, not both")),
        (None, None) => return Err(bad("to", "a recipient (to or contactId) is required")),
        (Some(to), None) => parse_recipient(&string("to", to)?)?,
        (None, Some(id)) => Recipient::Contact(
            id.as_i64()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("contactId", "must be a positive integer"))?,
        ),
    };
    let given = [
        present(&body.text).is_some(),
        present(&body.media).is_some(),
        present(&body.template).is_some(),
    ];
    let count = given.iter().filter(|g| **g).count();
    if count > 1 {
        let field = if given[0] { "text" } else { "media" };
        return Err(bad(field, "give exactly one of text, media or template"));
    }
    let content = if let Some(t) = present(&body.text) {
        let text = string("text", t)?;
        if text.trim().is_empty() {
            return Err(bad("text", "must not be empty"));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(bad(
                "text",
                format!("longer than {MAX_TEXT_CHARS} characters"),
            ));
        }
        Content::Text { text }
    } else if let Some(m) = present(&body.media) {
        parse_media(m)?
    } else if let Some(t) = present(&body.template) {
        parse_template(t)?
    } else {
        return Err(bad("text", "one of text, media or template is required"));
    };
    let forced = match present(&body.provider) {
        None => None,
        Some(v) => {
            let p = string("provider", v)?;
            Some(
                Provider::parse(p.trim().to_ascii_lowercase().as_str())
                    .ok_or_else(|| bad("provider", "must be twilio or baileys"))?,
            )
        }
    };
    Ok(SendRequest {
        recipient,
        content,
        idempotency_key: key,
        forced,
    })
}

impl SendRequest {
    /// Hash of everything but the key: the same key with another body is a conflict.
    pub fn hash(&self) -> String {
        let recipient = match &self.recipient {
            Recipient::Contact(id) => format!("contact:{id}"),
            Recipient::Phone(p) => format!("phone:{p}"),
            Recipient::Jid(j) => format!("jid:{j}"),
        };
        let canonical = serde_json::json!({
            "recipient": recipient,
            "content": self.content,
            "forced": self.forced.map(Provider::as_str),
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
