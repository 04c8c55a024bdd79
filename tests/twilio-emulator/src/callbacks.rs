//! Signed webhook delivery (status callbacks and customer inbound messages) and the status
//! lifecycle of accepted messages.
//!
//! Signing uses the gateway's own `gateway::twilio::signature::compute` (fact sheet A5). Retry
//! policy is Twilio's default connection override `rc=1, rp=ct` (fact sheet A4): one retry, and
//! only when the connection could not be made; a 5xx or a read timeout is not retried. The
//! `I-Twilio-Idempotency-Token` header is the same on the retry (fact sheet A4).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::model::{API_VERSION, Status};
use crate::state::{Delivery, FailStatus, Shared, StopAt};
use crate::twilio_error::async_error_message;

/// Header names.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// Replay-stable event id header.
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";

/// POSTs `params` to `url` (or its configured delivery target), signed over `url`; records every
/// attempt and returns the last one.
pub async fn deliver(
    st: &Shared,
    kind: &'static str,
    url: &str,
    params: Vec<(String, String)>,
) -> Delivery {
    let signature = gateway::twilio::signature::compute(st.auth_token.as_bytes(), url, &params);
    let token_bytes: [u8; 16] = rand::thread_rng().r#gen();
    let idempotency_token = hex::encode(token_bytes);
    let target = st.delivery_target(url);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = st
            .http
            .post(&target)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("user-agent", "TwilioProxy/1.1")
            .header(SIGNATURE_HEADER, &signature)
            .header(IDEMPOTENCY_HEADER, &idempotency_token)
            .body(body.clone())
            .send()
            .await;
        let (http_status, error, retry) = match sent {
            Ok(resp) => (Some(resp.status().as_u16()), None, false),
            Err(e) => (None, Some(e.to_string()), e.is_connect() && attempt == 1),
        };
        let record = Delivery {
            kind,
            url: url.to_owned(),
            target: target.clone(),
            params: params.clone(),
            signature: signature.clone(),
            idempotency_token: idempotency_token.clone(),
            attempt,
            http_status,
            error,
        };
        st.lock().deliveries.push(record.clone());
        if !retry {
            return record;
        }
        tracing::debug!(%target, "callback connect failure; retrying once");
    }
}

/// One step of a message's life: the status it moves to and the error code, if failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// New status.
    pub status: Status,
    /// Error code with it.
    pub error: Option<u32>,
    /// Fetch the message's media first; on failure the step becomes `failed` with 63019/63021.
    pub fetch_media: bool,
}

/// The steps after creation, from the settings in force when the message was accepted.
pub fn plan(
    st: &Shared,
    initial: Status,
    with_service: bool,
    with_media: bool,
    window_open: bool,
) -> (Vec<Step>, Duration) {
    let s = st.lock().settings.clone();
    let step = |status, error| Step {
        status,
        error,
        fetch_media: false,
    };
    let mut steps = Vec::new();
    if s.callback_initial {
        steps.push(step(initial, None));
    }
    if with_service {
        // accepted → queued: the first status after the initial one, so it gets a callback.
        steps.push(step(Status::Queued, None));
    }
    if !window_open {
        // Fact sheet A7/A10: outside the window a free-form WhatsApp message fails with 63016.
        // Twilio accepts the create (201, queued) and reports the failure on the message and in
        // its status callback (63016 is logged as a message error, not an API error).
        steps.push(step(Status::Failed, Some(63016)));
    } else if let Some(f) = s.fail_with {
        if f.status == FailStatus::Undelivered {
            steps.push(step(Status::Sent, None));
        }
        steps.push(step(f.status.status(), Some(f.code)));
    } else {
        steps.push(Step {
            status: Status::Sent,
            error: None,
            fetch_media: with_media && s.fetch_media,
        });
        if matches!(s.stop_at, StopAt::Delivered | StopAt::Read) {
            steps.push(step(Status::Delivered, None));
        }
        if s.stop_at == StopAt::Read {
            steps.push(step(Status::Read, None));
        }
    }
    (steps, Duration::from_millis(s.callback_step_ms))
}

/// Runs `steps` for message `sid` in order, posting a callback after each when it has a URL.
pub fn spawn_lifecycle(st: Arc<Shared>, sid: String, steps: Vec<Step>, pause: Duration) {
    tokio::spawn(async move {
        for mut step in steps {
            tokio::time::sleep(pause).await;
            if step.fetch_media
                && let Err(code) = crate::outbound_media::fetch_all(&st, &sid).await
            {
                step = Step {
                    status: Status::Failed,
                    error: Some(code),
                    fetch_media: false,
                };
            }
            let failed = step.status == Status::Failed;
            if let Some((url, params)) = apply_step(&st, &sid, step) {
                deliver(&st, "status", &url, params).await;
            }
            if failed {
                break;
            }
        }
    });
}

/// Moves the message to `step` and returns the callback to send, if it has a URL.
fn apply_step(st: &Shared, sid: &str, step: Step) -> Option<(String, Vec<(String, String)>)> {
    let now = st.clock.now();
    let mut guard = st.lock();
    let m = guard.messages.iter_mut().find(|m| m.sid == sid)?;
    if m.status != step.status {
        m.status = step.status;
        m.date_updated = now;
        m.history.push(step.status);
    }
    if step.status == Status::Sent {
        m.date_sent = Some(now);
    }
    if let Some(code) = step.error {
        m.error_code = Some(code);
        m.error_message = Some(async_error_message(code).to_owned());
    }
    let url = m.status_callback.clone()?;
    let status = step.status.as_str().to_owned();
    let mut p: Vec<(String, String)> = vec![
        ("ChannelPrefix".into(), "whatsapp".into()),
        ("ApiVersion".into(), API_VERSION.into()),
        ("MessageStatus".into(), status.clone()),
        ("SmsSid".into(), m.sid.clone()),
        ("SmsStatus".into(), status),
        ("ChannelInstallSid".into(), st.channel_install_sid.clone()),
        ("To".into(), m.to.clone()),
        ("From".into(), m.from.clone()),
        ("MessageSid".into(), m.sid.clone()),
        ("AccountSid".into(), m.account_sid.clone()),
        (
            "ChannelToAddress".into(),
            m.to.trim_start_matches("whatsapp:").to_owned(),
        ),
    ];
    if let Some(svc) = &m.messaging_service_sid {
        p.push(("MessagingServiceSid".into(), svc.clone()));
    }
    match step.status {
        Status::Sent => p.push(("StructuredMessage".into(), "false".into())),
        Status::Delivered | Status::Read | Status::Undelivered => {
            p.push((
                "EventType".into(),
                step.status.as_str().to_ascii_uppercase(),
            ));
        }
        _ => {}
    }
    if let Some(code) = step.error {
        p.push(("ErrorCode".into(), code.to_string()));
        p.push(("ErrorMessage".into(), async_error_message(code).into()));
    }
    Some((url, p))
}
