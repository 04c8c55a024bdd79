//! The open-loop load: signed Twilio and sidecar webhooks at a fixed rate.

use crate::gateway_proc::{self, Gateway};
use anyhow::Result;
use hdrhistogram::Histogram;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to send.
pub(crate) struct Plan {
    pub(crate) rate: u32,
    pub(crate) seconds: u32,
    pub(crate) contacts: u32,
}

/// One acknowledged message: which provider and its id, to look it up afterwards.
#[derive(Clone, Debug)]
pub(crate) struct Acked {
    pub(crate) contact_phone: String,
    pub(crate) provider_message_id: String,
}

/// Figures for one backend.
pub(crate) struct Report {
    pub(crate) backend: String,
    pub(crate) sent: u64,
    pub(crate) errors: u64,
    pub(crate) error_kinds: Vec<String>,
    pub(crate) elapsed: Duration,
    pub(crate) latency: Histogram<u64>,
    pub(crate) acknowledged: Vec<Acked>,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |v: u64| v as f64 / 1000.0;
        writeln!(
            f,
            "[{}] sent {} in {:.2} s = {:.0} req/s; 204s {}; errors {}; lost {}; duplicated {}",
            self.backend,
            self.sent,
            self.elapsed.as_secs_f64(),
            self.sent as f64 / self.elapsed.as_secs_f64(),
            self.acknowledged.len(),
            self.errors,
            self.lost,
            self.duplicated
        )?;
        write!(
            f,
            "[{}] latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            self.backend,
            ms(self.latency.value_at_quantile(0.50)),
            ms(self.latency.value_at_quantile(0.90)),
            ms(self.latency.value_at_quantile(0.99)),
            ms(self.latency.value_at_quantile(0.999)),
            ms(self.latency.max())
        )?;
        for e in self.error_kinds.iter().take(5) {
            write!(f, "\n[{}] error: {e}", self.backend)?;
        }
        Ok(())
    }
}

enum Outcome {
    Ok(Acked, u64),
    Err(String, u64),
}

/// Runs the plan against `gw`.
pub(crate) async fn run(gw: &Gateway, plan: &Plan, backend: &str) -> Result<Report> {
    let total = u64::from(plan.rate) * u64::from(plan.seconds);
    let interval = Duration::from_secs_f64(1.0 / f64::from(plan.rate.max(1)));
    let run_id: u32 = rand::random();
    let gw = Arc::new((gw.client.clone(), gw.base.clone()));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let gw = Arc::clone(&gw);
        let contact = (i % u64::from(plan.contacts.max(1))) as u32;
        tasks.spawn(async move {
            let (client, base) = (&gw.0, &gw.1);
            let (req, acked) = if i % 2 == 0 {
                twilio_request(client, base, run_id, i, contact)
            } else {
                baileys_request(client, base, run_id, i, contact)
            };
            let result = req.send().await;
            let micros = scheduled.elapsed().as_micros() as u64;
            match result {
                Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => {
                    Outcome::Ok(acked, micros)
                }
                Ok(r) => Outcome::Err(format!("HTTP {}", r.status()), micros),
                Err(e) => Outcome::Err(format!("transport: {e}"), micros),
            }
        });
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut acknowledged = Vec::with_capacity(total as usize);
    let mut errors = 0;
    let mut error_kinds = Vec::new();
    while let Some(res) = tasks.join_next().await {
        match res? {
            Outcome::Ok(a, us) => {
                latency.saturating_record(us);
                acknowledged.push(a);
            }
            Outcome::Err(e, us) => {
                latency.saturating_record(us);
                errors += 1;
                if !error_kinds.contains(&e) {
                    error_kinds.push(e);
                }
            }
        }
    }
    Ok(Report {
        backend: backend.to_owned(),
        sent: total,
        errors,
        error_kinds,
        elapsed: start.elapsed(),
        latency,
        acknowledged,
        lost: 0,
        duplicated: 0,
    })
}

fn phone(contact: u32) -> String {
    format!("9725{:08}", 10_000_000 + contact)
}

fn twilio_request(
    client: &reqwest::Client,
    base: &str,
    run_id: u32,
    i: u64,
    contact: u32,
) -> (reqwest::RequestBuilder, Acked) {
    let digits = phone(contact);
    let sid = format!("SM{run_id:08x}{i:024x}");
    let from = format!("whatsapp:+{digits}");
    let body = format!("שלום, הודעה מספר {i}");
    let params: Vec<(&str, String)> = vec![
        ("AccountSid", gateway_proc::ACCOUNT_SID.to_owned()),
        ("ApiVersion", "2010-04-01".to_owned()),
        ("Body", body),
        ("From", from),
        ("MessageSid", sid.clone()),
        ("MessageType", "text".to_owned()),
        ("NumMedia", "0".to_owned()),
        ("NumSegments", "1".to_owned()),
        ("ProfileName", format!("לקוח {contact}")),
        ("SmsMessageSid", sid.clone()),
        ("SmsSid", sid.clone()),
        ("SmsStatus", "received".to_owned()),
        ("To", "whatsapp:+972535555555".to_owned()),
        ("WaId", digits.clone()),
    ];
    let path = "/api/whatsapp/twilio";
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let signature = gateway::twilio::signature::compute(
        gateway_proc::TWILIO_TOKEN.as_bytes(),
        &format!("{}{path}", gateway_proc::PUBLIC_BASE),
        &owned,
    );
    let form: String = form_encode(&params);
    let req = client
        .post(format!("{base}{path}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .header("I-Twilio-Idempotency-Token", format!("{run_id:08x}-{i}"))
        .body(form);
    (
        req,
        Acked {
            contact_phone: format!("+{digits}"),
            provider_message_id: sid,
        },
    )
}

fn baileys_request(
    client: &reqwest::Client,
    base: &str,
    run_id: u32,
    i: u64,
    contact: u32,
) -> (reqwest::RequestBuilder, Acked) {
    let digits = phone(contact);
    let jid = format!("{digits}@s.whatsapp.net");
    let id = format!("3EB0{run_id:08X}{i:010X}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let body = serde_json::json!({
        "remoteJid": jid,
        "messageId": id,
        "timestamp": now,
        "type": "text",
        "text": format!("מה שלומך? {i}"),
        "pushName": format!("לקוח {contact}"),
    })
    .to_string();
    let sig = shared::signature::sign(
        gateway_proc::BAILEYS_SECRET.as_bytes(),
        now,
        body.as_bytes(),
    );
    let req = client
        .post(format!("{base}/api/whatsapp/baileys"))
        .header("Content-Type", "application/json")
        .header(shared::SECRET_HEADER, gateway_proc::BAILEYS_SECRET)
        .header(shared::TIMESTAMP_HEADER, now.to_string())
        .header(shared::SIGNATURE_HEADER, sig)
        .body(body);
    (
        req,
        Acked {
            contact_phone: format!("+{digits}"),
            provider_message_id: id,
        },
    )
}

fn form_encode(params: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (k, v) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    out
}
