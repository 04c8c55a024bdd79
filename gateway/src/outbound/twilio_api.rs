//! Twilio's Messages REST API: send (`POST …/Messages.json`), look a send up after an ambiguous
//! failure (`GET …/Messages.json?To=&From=&DateSent>=`), and the classification of its errors
//! (twilio-and-peers.md A7).

use std::time::Duration;

use crm_store::Millis;
use serde::Deserialize;

use super::health::without_url;

/// Longest wait for one Twilio call.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Twilio's REST API version path segment.
const API_VERSION: &str = "2010-04-01";

/// Permanent WhatsApp/Twilio errors: recorded, never retried (A7 table).
pub const PERMANENT_CODES: &[&str] = &[
    "63016", "63024", "63003", "21211", "21614", "63021", "63019", "63027", "63028", "63013",
    "63032", "63049", "63020", "63038", "21408", "21610",
];

/// What to put in a message.
#[derive(Debug, Clone, PartialEq)]
pub enum TwilioContent {
    /// `Body`.
    Text(String),
    /// `MediaUrl` and an optional `Body` caption.
    Media {
        /// Public http(s) URL.
        url: String,
        /// Caption.
        caption: Option<String>,
    },
    /// `ContentSid` + `ContentVariables` (a JSON string).
    Template {
        /// `HX…`.
        sid: String,
        /// Variables as a JSON object text.
        variables: String,
    },
}

/// A message Twilio accepted or reports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TwilioMessage {
    /// `SM…`.
    pub sid: String,
    /// Twilio's status word.
    pub status: String,
    /// Text as Twilio holds it.
    #[serde(default)]
    pub body: Option<String>,
    /// Number of media.
    #[serde(default)]
    pub num_media: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListPage {
    #[serde(default)]
    messages: Vec<TwilioMessage>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// How a failed call must be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Twilio certainly did not take the message (429/20429/63018, connect error): retry.
    Retry,
    /// The request may have been carried out (5xx, timeout after sending): look up, then retry.
    Ambiguous,
    /// Never retried (4xx, 63016, ...).
    Permanent,
}

/// A failed Twilio call. Messages never contain credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Twilio: {message}")]
pub struct TwilioFailure {
    /// Handling.
    pub kind: FailureKind,
    /// Twilio error code, when it gave one.
    pub code: Option<String>,
    /// `Retry-After`, when given.
    pub retry_after: Option<Duration>,
    /// Description.
    pub message: String,
}

/// Classifies an HTTP error answer from Twilio.
pub fn classify(status: u16, code: Option<&str>) -> FailureKind {
    match (status, code) {
        (429, _) | (_, Some("20429" | "63018" | "63017")) => FailureKind::Retry,
        (s, _) if s >= 500 => FailureKind::Ambiguous,
        _ => FailureKind::Permanent,
    }
}

/// Parses `Retry-After` (seconds; an HTTP date is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

/// Unix milliseconds as ISO 8601 UTC (`2026-01-01T00:00:00Z`), for `DateSent>=`.
pub fn iso8601(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian; era arithmetic).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A Twilio REST client for one account and sender.
#[derive(Clone)]
pub struct TwilioApi {
    client: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: crate::Secret,
    /// `whatsapp:+E164`.
    pub from: String,
    status_callback: String,
}

impl TwilioApi {
    /// A client for `api_base` (`TWILIO_API_BASE`).
    pub fn new(
        client: reqwest::Client,
        api_base: &url::Url,
        account_sid: &str,
        auth_token: crate::Secret,
        from: &str,
        status_callback: String,
    ) -> Self {
        let base = api_base.as_str().trim_end_matches('/');
        TwilioApi {
            client,
            messages_url: format!("{base}/{API_VERSION}/Accounts/{account_sid}/Messages.json"),
            account_sid: account_sid.to_owned(),
            auth_token,
            from: from.to_owned(),
            status_callback,
        }
    }

    /// Sends one message to `to_e164` (`+972…`).
    pub async fn send(
        &self,
        to_e164: &str,
        content: &TwilioContent,
    ) -> Result<TwilioMessage, TwilioFailure> {
        let mut form: Vec<(&str, String)> = vec![
            ("To", format!("whatsapp:{to_e164}")),
            ("From", self.from.clone()),
            ("StatusCallback", self.status_callback.clone()),
        ];
        match content {
            TwilioContent::Text(t) => form.push(("Body", t.clone())),
            TwilioContent::Media { url, caption } => {
                form.push(("MediaUrl", url.clone()));
                if let Some(c) = caption {
                    form.push(("Body", c.clone()));
                }
            }
            TwilioContent::Template { sid, variables } => {
                form.push(("ContentSid", sid.clone()));
                form.push(("ContentVariables", variables.clone()));
            }
        }
        let req = self
            .client
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .timeout(TIMEOUT)
            .form(&form);
        let resp = req.send().await.map_err(|e| transport_failure(&e))?;
        let status = resp.status();
        let after = retry_after(resp.headers());
        if status.is_success() {
            return resp
                .json::<TwilioMessage>()
                .await
                .map_err(|e| TwilioFailure {
                    kind: FailureKind::Ambiguous,
                    code: None,
                    retry_after: None,
                    message: format!("unreadable success answer ({})", without_url(&e)),
                });
        }
        let body: Option<ErrorBody> = resp.json().await.ok();
        let code = body.as_ref().and_then(|b| match &b.code {
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            _ => None,
        });
        let text = body
            .and_then(|b| b.message)
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect::<String>();
        Err(TwilioFailure {
            kind: classify(status.as_u16(), code.as_deref()),
            code: code.clone(),
            retry_after: after,
            message: format!(
                "HTTP {} code {}: {text}",
                status.as_u16(),
                code.as_deref().unwrap_or("-")
            ),
        })
    }

    /// Messages from our sender to `to_e164` sent at or after `since`, newest first.
    pub async fn find_sent(
        &self,
        to_e164: &str,
        since: Millis,
    ) -> Result<Vec<TwilioMessage>, TwilioFailure> {
        let to = format!("whatsapp:{to_e164}");
        let after = iso8601(since);
        let query = [
            ("To", to.as_str()),
            ("From", self.from.as_str()),
            ("DateSent>", after.as_str()),
            ("PageSize", "50"),
        ];
        let resp = self
            .client
            .get(&self.messages_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .timeout(TIMEOUT)
            .query(&query)
            .send()
            .await
            .map_err(|e| transport_failure(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(TwilioFailure {
                kind: FailureKind::Retry,
                code: None,
                retry_after: retry_after(resp.headers()),
                message: format!("lookup answered HTTP {}", status.as_u16()),
            });
        }
        let page: ListPage = resp.json().await.map_err(|e| TwilioFailure {
            kind: FailureKind::Retry,
            code: None,
            retry_after: None,
            message: format!("unreadable lookup answer ({})", without_url(&e)),
        })?;
        Ok(page.messages)
    }
}

fn transport_failure(e: &reqwest::Error) -> TwilioFailure {
    // A connect failure means nothing was sent; anything later may have reached Twilio.
    let kind = if e.is_connect() {
        FailureKind::Retry
    } else {
        FailureKind::Ambiguous
    };
    TwilioFailure {
        kind,
        code: None,
        retry_after: None,
        message: without_url(e),
    }
}

/// Whether a message found by [`TwilioApi::find_sent`] is the one we tried to send.
pub fn matches(found: &TwilioMessage, content: &TwilioContent) -> bool {
    let body = found.body.as_deref().unwrap_or("");
    let media = found
        .num_media
        .as_deref()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    match content {
        TwilioContent::Text(t) => body == t && media == 0,
        TwilioContent::Media { caption, .. } => {
            media > 0 && body == caption.as_deref().unwrap_or("")
        }
        // The rendered template text is Twilio's; any message in the attempt's time span is it.
        TwilioContent::Template { .. } => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_twilio_docs() {
        assert_eq!(classify(429, Some("20429")), FailureKind::Retry);
        assert_eq!(classify(429, None), FailureKind::Retry);
        assert_eq!(classify(400, Some("63018")), FailureKind::Retry);
        assert_eq!(classify(503, None), FailureKind::Ambiguous);
        assert_eq!(classify(500, Some("20500")), FailureKind::Ambiguous);
        for code in ["63016", "63024", "63003", "21211"] {
            assert_eq!(classify(400, Some(code)), FailureKind::Permanent, "{code}");
            assert!(PERMANENT_CODES.contains(&code));
        }
        assert_eq!(classify(401, Some("20003")), FailureKind::Permanent);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_767_225_600_000), "2026-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400_000 + 3_723_000), "2000-02-29T01:02:03Z");
    }

    #[test]
    fn lookup_matching() {
        let m = |body: &str, media: &str| TwilioMessage {
            sid: "SM1".into(),
            status: "sent".into(),
            body: Some(body.into()),
            num_media: Some(media.into()),
        };
        assert!(matches(&m("hi", "0"), &TwilioContent::Text("hi".into())));
        assert!(!matches(&m("hi!", "0"), &TwilioContent::Text("hi".into())));
        let media = TwilioContent::Media {
            url: "https://x/y.jpg".into(),
            caption: Some("cap".into()),
        };
        assert!(matches(&m("cap", "1"), &media));
        assert!(!matches(&m("cap", "0"), &media));
    }
}
