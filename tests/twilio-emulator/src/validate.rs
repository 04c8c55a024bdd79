//! Validation of `POST …/Messages.json` parameters, in Twilio's codes (see [`crate::twilio_error`]).

use std::collections::{BTreeMap, HashMap};

use crate::model::is_sid;
use crate::state::Template;
use crate::twilio_error::TwilioError;

/// Twilio's body limit (fact sheet A7: "≤ 1,600 chars").
pub const MAX_BODY_CHARS: usize = 1600;
/// Twilio's media limit per message (fact sheet A7: "repeatable, up to 10").
pub const MAX_MEDIA: usize = 10;

/// What a valid create asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// `whatsapp:+…` recipient.
    pub to: String,
    /// `whatsapp:+…` sender.
    pub from: String,
    /// `MG…`, when given.
    pub messaging_service_sid: Option<String>,
    /// Text to deliver (template already rendered).
    pub body: String,
    /// `MediaUrl` values.
    pub media_urls: Vec<String>,
    /// `ContentSid` and the raw `ContentVariables`, for template sends.
    pub content: Option<(String, Option<String>)>,
    /// `StatusCallback`.
    pub status_callback: Option<String>,
}

impl CreateRequest {
    /// Free-form (subject to the 24-hour window) rather than a template.
    pub fn is_free_form(&self) -> bool {
        self.content.is_none()
    }
}

/// `+` then 7 to 15 digits, not starting with 0 (E.164).
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// `whatsapp:+E164`.
pub fn is_whatsapp_address(s: &str) -> bool {
    s.strip_prefix("whatsapp:").is_some_and(is_e164)
}

fn first<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s)
        .ok()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Validates a create; `senders` are the account's WhatsApp senders.
pub fn create(
    form: &[(String, String)],
    senders: &[String],
    templates: &HashMap<String, Template>,
) -> Result<CreateRequest, TwilioError> {
    let to = first(form, "To")
        .ok_or_else(|| TwilioError::bad_request(21604, "A 'To' phone number is required."))?;
    let service = first(form, "MessagingServiceSid");
    let from = first(form, "From");
    if from.is_none() && service.is_none() {
        return Err(TwilioError::bad_request(
            21603,
            "A 'From' phone number is required.",
        ));
    }
    let to_channel = to.starts_with("whatsapp:");
    if !(if to_channel {
        is_whatsapp_address(to)
    } else {
        is_e164(to)
    }) {
        return Err(TwilioError::bad_request(
            21211,
            format!("Invalid 'To' Phone Number: {to}"),
        ));
    }
    if let Some(sid) = service
        && !is_sid(sid, "MG")
    {
        return Err(TwilioError::bad_request(
            21701,
            format!("The Messaging Service Sid {sid} is invalid."),
        ));
    }
    let from = match from {
        Some(f) => f.to_owned(),
        None => senders
            .first()
            .cloned()
            .ok_or_else(|| TwilioError::bad_request(21603, "A 'From' phone number is required."))?,
    };
    let from_channel = from.starts_with("whatsapp:");
    if !from_channel || !is_whatsapp_address(&from) {
        return Err(TwilioError::bad_request(
            21212,
            format!("Invalid 'From' Number: {from}"),
        ));
    }
    if !to_channel {
        return Err(TwilioError::bad_request(
            21910,
            "Invalid From and To pair. From and To should be of the same channel",
        ));
    }
    if !senders.iter().any(|s| s == &from) {
        return Err(TwilioError::bad_request(
            63007,
            "Twilio could not find a Channel with the specified From address",
        ));
    }
    let status_callback = first(form, "StatusCallback").map(str::to_owned);
    if let Some(cb) = &status_callback {
        let host_ok = url::Url::parse(cb)
            .ok()
            .and_then(|u| u.host_str().map(|h| !h.contains('_')))
            .unwrap_or(false);
        if !is_http_url(cb) || !host_ok || cb.len() > 4000 {
            return Err(TwilioError::bad_request(21609, "Invalid 'StatusCallback'"));
        }
    }

    let body = first(form, "Body");
    let media_urls: Vec<String> = form
        .iter()
        .filter(|(k, v)| k == "MediaUrl" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let content = match first(form, "ContentSid") {
        Some(sid) => {
            if body.is_some() || !media_urls.is_empty() {
                // Strict on purpose: Twilio's 63016 page says to drop Body/MediaUrl with ContentSid.
                return Err(TwilioError::bad_request(
                    21619,
                    "Send either ContentSid or Body/MediaUrl, not both (emulator is strict here)",
                ));
            }
            let template = (is_sid(sid, "HX"))
                .then(|| templates.get(sid))
                .flatten()
                .ok_or_else(|| TwilioError::bad_request(21655, "The ContentSid is Invalid"))?;
            let vars = first(form, "ContentVariables");
            let rendered = render(template, vars)?;
            Some((sid.to_owned(), vars.map(str::to_owned), rendered))
        }
        None => None,
    };
    let body = match content {
        Some((_, _, ref rendered)) => rendered.clone(),
        None => {
            if body.is_none() && media_urls.is_empty() {
                return Err(TwilioError::bad_request(
                    21619,
                    "A text message body or media URL must be specified.",
                ));
            }
            let body = body.unwrap_or_default();
            if body.chars().count() > MAX_BODY_CHARS {
                return Err(TwilioError::bad_request(
                    21617,
                    "The concatenated message body exceeds the 1600 character limit.",
                ));
            }
            if let Some(u) = media_urls.iter().find(|u| !is_http_url(u)) {
                return Err(TwilioError::bad_request(
                    21620,
                    format!("Invalid media URL(s): {u}"),
                ));
            }
            if media_urls.len() > MAX_MEDIA {
                return Err(TwilioError::bad_request(
                    21623,
                    "Number of media files exceeds allowed limit",
                ));
            }
            body.to_owned()
        }
    };
    Ok(CreateRequest {
        to: to.to_owned(),
        from,
        messaging_service_sid: service.map(str::to_owned),
        body,
        media_urls,
        content: content.map(|(sid, vars, _)| (sid, vars)),
        status_callback,
    })
}

/// Renders a template with `ContentVariables` (a JSON object of strings) over its defaults.
pub fn render(template: &Template, vars: Option<&str>) -> Result<String, TwilioError> {
    let invalid = || TwilioError::bad_request(21656, "The ContentVariables Parameter is invalid");
    let mut values: BTreeMap<String, String> = template.variables.clone();
    if let Some(raw) = vars {
        let parsed: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(raw).map_err(|_| invalid())?;
        for (k, v) in parsed {
            match v {
                serde_json::Value::String(s) if !s.is_empty() => {
                    values.insert(k, s);
                }
                _ => return Err(invalid()),
            }
        }
    }
    let mut out = String::with_capacity(template.body.len());
    let mut rest = template.body.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(invalid)?;
        let key = after[..end].trim();
        out.push_str(values.get(key).ok_or_else(invalid)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tpl(body: &str) -> Template {
        Template {
            sid: format!("HX{}", "a".repeat(32)),
            body: body.into(),
            variables: BTreeMap::from([("2".into(), "there".into())]),
        }
    }

    #[test]
    fn addresses() {
        assert!(is_whatsapp_address("whatsapp:+972501234567"));
        assert!(!is_whatsapp_address("whatsapp:972501234567"));
        assert!(!is_whatsapp_address("+972501234567"));
        assert!(!is_whatsapp_address("whatsapp:+0123456789"));
        assert!(!is_whatsapp_address("whatsapp:+1234567890123456"));
    }

    #[test]
    fn renders_with_defaults_and_rejects_bad_variables() {
        let t = tpl("Hello {{1}}, hi {{2}}!");
        assert_eq!(
            render(&t, Some(r#"{"1":"Ana"}"#)).unwrap(),
            "Hello Ana, hi there!"
        );
        assert_eq!(render(&t, Some("not json")).unwrap_err().code, 21656);
        assert_eq!(render(&t, Some(r#"{"1":7}"#)).unwrap_err().code, 21656);
        assert_eq!(render(&t, Some(r#"{"1":""}"#)).unwrap_err().code, 21656);
        assert_eq!(render(&t, None).unwrap_err().code, 21656);
        assert_eq!(
            render(&tpl("Hi {{1}"), Some(r#"{"1":"x"}"#))
                .unwrap_err()
                .code,
            21656
        );
    }
}
