//! Outbound messages: routing policy ([`policy`]), the durable outbox worker ([`deliver`]),
//! Twilio and sidecar clients ([`twilio_api`], [`sidecar_api`]), the sidecar health monitor
//! ([`health`]) and the validated send request ([`request`]).
//!
//! Flow: `POST /api/messages` validates, decides (policy), and stores the message, its outbox
//! entry and the `wa.provider` decision event in one transaction, then wakes the worker. The
//! worker leases the entry, re-checks the route against current health, records the attempt
//! (in flight) and calls the provider; a sidecar failure marks it DOWN and the same attempt goes
//! on to Twilio. After a crash or an ambiguous failure the next attempt first looks the message
//! up at the provider (Twilio list; for the sidecar the same `idempotencyKey`).

pub mod deliver;
pub mod health;
pub mod policy;
pub mod rate;
pub mod request;
pub mod sidecar_api;
pub mod state;
pub mod twilio_api;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crm_store::{Millis, NewEvent, Provider};
use serde_json::{Value, json};
use tokio::sync::Notify;

use self::health::{SidecarHealth, Transition};
use self::rate::RateLimiter;
use self::sidecar_api::SidecarApi;
use self::twilio_api::TwilioApi;
use crate::config::{Config, ProviderMode};

/// The failover template and how its variables are filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverTemplate {
    /// `HX…`.
    pub content_sid: String,
    /// Variable number → text with `{name}`, `{text}`, `{phone}` placeholders.
    pub variables: BTreeMap<String, String>,
}

impl FailoverTemplate {
    /// `ContentVariables` for a message: placeholders replaced by the contact's name (or phone
    /// when unnamed), the original text or caption, and the phone number.
    pub fn render(&self, name: Option<&str>, text: Option<&str>, phone: Option<&str>) -> String {
        let phone = phone.unwrap_or("");
        let name = name.filter(|n| !n.trim().is_empty()).unwrap_or(phone);
        let text = text.unwrap_or("");
        let vars: serde_json::Map<String, Value> = self
            .variables
            .iter()
            .map(|(k, v)| {
                let filled = v
                    .replace("{name}", name)
                    .replace("{text}", text)
                    .replace("{phone}", phone);
                (k.clone(), Value::String(filled))
            })
            .collect();
        Value::Object(vars).to_string()
    }
}

#[derive(Default)]
struct Counters {
    /// (provider, outcome) → count.
    sends: BTreeMap<(&'static str, &'static str), u64>,
    failovers: u64,
    refused: u64,
}

/// The outbound side of the gateway, shared by the API, the worker and the health monitor.
pub struct Outbound {
    /// `WHATSAPP_PROVIDER`.
    pub mode: ProviderMode,
    /// Sidecar health.
    pub health: SidecarHealth,
    /// Sidecar client, when `BAILEYS_OUTBOUND_URL` is set.
    pub sidecar: Option<SidecarApi>,
    /// Twilio client, when Twilio is configured for sending.
    pub twilio: Option<TwilioApi>,
    /// Our Twilio number as stored in conversations (`+E164`).
    pub twilio_number: Option<String>,
    /// Failover template, when configured.
    pub failover: Option<FailoverTemplate>,
    /// Pacing of Twilio sends per sender.
    pub twilio_rate: RateLimiter,
    /// Wakes the delivery worker.
    pub work: Notify,
    health_url: Option<url::Url>,
    client: reqwest::Client,
    counters: Mutex<Counters>,
}

impl Outbound {
    /// Builds the clients from the configuration.
    pub fn new(config: &Config, now: Millis) -> Outbound {
        let client = reqwest::Client::builder()
            .connect_timeout(sidecar_api::CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let sidecar = config.baileys_outbound_url.as_ref().map(|u| {
            SidecarApi::new(
                client.clone(),
                u.clone(),
                config.baileys_webhook_secret.clone(),
            )
        });
        let twilio = config.twilio.as_ref().and_then(|tw| {
            let sid = tw.account_sid.as_deref()?;
            let from = tw.wa_from.as_deref()?;
            Some(TwilioApi::new(
                client.clone(),
                &config.twilio_api_base,
                sid,
                tw.auth_token.clone(),
                from,
                format!("{}{}", tw.public_base_url, crate::twilio::PATH),
            ))
        });
        let twilio_number = twilio
            .as_ref()
            .map(|t| t.from.trim_start_matches("whatsapp:").to_owned());
        let failover = config
            .failover_content_sid
            .as_ref()
            .map(|sid| FailoverTemplate {
                content_sid: sid.clone(),
                variables: config.failover_variables.clone(),
            });
        Outbound {
            mode: config.provider,
            health: SidecarHealth::new(sidecar.is_some(), now),
            sidecar,
            twilio,
            twilio_number,
            failover,
            twilio_rate: RateLimiter::new(config.twilio_send_rate),
            work: Notify::new(),
            health_url: config.baileys_health_url.clone(),
            client,
            counters: Mutex::new(Counters::default()),
        }
    }

    /// Health for the policy.
    pub fn policy_health(&self) -> policy::Health {
        policy::Health {
            sidecar_up: self.sidecar.is_some() && self.health.is_up(),
            twilio_ready: self.twilio.is_some(),
            failover_template: self.failover.is_some(),
        }
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c);
    }

    /// Counts a send outcome (`sent`, `retry`, `failed`, `down`).
    pub fn count_send(&self, provider: Provider, outcome: &'static str) {
        self.count(|c| *c.sends.entry((provider.as_str(), outcome)).or_default() += 1);
    }

    /// Counts a failover from the sidecar to Twilio.
    pub fn count_failover(&self) {
        self.count(|c| c.failovers += 1);
    }

    /// Counts a message refused by the policy (422).
    pub fn count_refused(&self) {
        self.count(|c| c.refused += 1);
    }

    /// `GET /api/providers` body.
    pub fn state_json(&self, pending: Option<i64>) -> Value {
        let s = self.health.snapshot();
        json!({
            "mode": match self.mode {
                ProviderMode::Auto => "auto",
                ProviderMode::Twilio => "twilio",
                ProviderMode::Baileys => "baileys",
            },
            "sidecar": {
                "configured": s.configured,
                "state": if s.configured && s.up { "up" } else { "down" },
                "since": s.since,
                "reason": s.reason,
            },
            "twilio": {
                "configured": self.twilio.is_some(),
                "from": self.twilio.as_ref().map(|t| t.from.clone()),
                "failoverTemplate": self.failover.is_some(),
                "sendRatePerSecond": self.twilio_rate.per_second(),
            },
            "outbox": { "pending": pending },
        })
    }

    /// Prometheus lines for the outbound side.
    pub fn render_metrics(&self, pending: Option<i64>) -> String {
        let mut out = String::new();
        let up = u8::from(self.health.is_up());
        let _ = writeln!(
            out,
            "# HELP gateway_provider_up Whether a provider is usable for sending (sidecar: health monitor)."
        );
        let _ = writeln!(out, "# TYPE gateway_provider_up gauge");
        let _ = writeln!(out, "gateway_provider_up{{provider=\"baileys\"}} {up}");
        let _ = writeln!(
            out,
            "gateway_provider_up{{provider=\"twilio\"}} {}",
            u8::from(self.twilio.is_some())
        );
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP gateway_outbound_sends_total Outbound send attempts by provider and outcome."
        );
        let _ = writeln!(out, "# TYPE gateway_outbound_sends_total counter");
        for provider in ["baileys", "twilio"] {
            for outcome in ["sent", "retry", "failed", "down"] {
                let n = c.sends.get(&(provider, outcome)).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "gateway_outbound_sends_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP gateway_failovers_total Messages moved from the sidecar to Twilio."
        );
        let _ = writeln!(out, "# TYPE gateway_failovers_total counter");
        let _ = writeln!(out, "gateway_failovers_total {}", c.failovers);
        let _ = writeln!(
            out,
            "# HELP gateway_outbound_refused_total Messages refused by the routing policy (422)."
        );
        let _ = writeln!(out, "# TYPE gateway_outbound_refused_total counter");
        let _ = writeln!(out, "gateway_outbound_refused_total {}", c.refused);
        drop(c);
        if let Some(p) = pending {
            let _ = writeln!(
                out,
                "# HELP gateway_outbox_pending Outbound messages not yet accepted by a provider."
            );
            let _ = writeln!(out, "# TYPE gateway_outbox_pending gauge");
            let _ = writeln!(out, "gateway_outbox_pending {p}");
        }
        out
    }
}

/// The `wa.provider` event for a sidecar state change.
pub fn transition_event(t: &Transition, now: Millis) -> NewEvent {
    NewEvent {
        kind: "wa.provider".into(),
        contact_id: None,
        message_id: None,
        payload: json!({
            "provider": "baileys",
            "state": if t.up { "up" } else { "down" },
            "reason": t.reason,
            "since": now,
        }),
        created_at: now,
    }
}

/// Records a sidecar state change (event + log).
pub async fn report_transition(st: &crate::AppState, t: &Transition, now: Millis) {
    if t.up {
        tracing::info!(reason = %t.reason, "sidecar UP");
    } else {
        tracing::warn!(reason = %t.reason, "sidecar DOWN");
    }
    match st.store.append_event(&transition_event(t, now)).await {
        Ok(_) => st.notify_events(),
        Err(e) => tracing::warn!(error = %e, "cannot record the sidecar state change"),
    }
}

/// The health monitor: `GET` the sidecar's health URL every `HEALTH_CHECK_INTERVAL` until
/// shutdown. Does nothing when the sidecar is not configured.
pub async fn monitor(st: std::sync::Arc<crate::AppState>) {
    let Some(url) = st.outbound.health_url.clone() else {
        return;
    };
    if st.outbound.sidecar.is_none() {
        return;
    }
    let interval = st.config.health_check_interval;
    let mut stop = st.shutdown_signal();
    loop {
        if *stop.borrow() {
            break;
        }
        let result = health::check(&st.outbound.client, &url).await;
        let now = crate::respond::now_millis();
        let change = match result {
            Ok(()) => st.outbound.health.healthy(now),
            Err(reason) => {
                tracing::debug!(%reason, "sidecar health check failed");
                st.outbound.health.mark_down(&reason, now)
            }
        };
        if let Some(t) = change {
            report_transition(&st, &t, now).await;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    #[test]
    fn failover_variables_are_filled_from_contact_and_text() {
        let t = FailoverTemplate {
            content_sid: "HX0123456789abcdef0123456789abcdef".into(),
            variables: [("1", "{name}"), ("2", "re: {text} ({phone})")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        };
        let v: Value = serde_json::from_str(&t.render(
            Some("Dana"),
            Some("שלום \"x\""),
            Some("+972501234567"),
        ))
        .unwrap();
        assert_eq!(
            v,
            json!({"1": "Dana", "2": "re: שלום \"x\" (+972501234567)"})
        );
        // No name: the number stands in, so no variable is empty.
        let v: Value = serde_json::from_str(&t.render(None, None, Some("+972501234567"))).unwrap();
        assert_eq!(v["1"], "+972501234567");
    }

    #[test]
    fn outbound_settings_are_validated_naming_the_variable() {
        let raw = |vars: Option<&str>, rate: Option<&str>| RawConfig {
            gateway_data_dir: Some("/tmp/x".into()),
            twilio_failover_variables: vars.map(str::to_owned),
            twilio_send_rate: rate.map(str::to_owned),
            ..RawConfig::default()
        };
        let c = Config::from_raw(raw(None, None)).unwrap();
        assert_eq!(c.twilio_send_rate, crate::config::DEFAULT_TWILIO_SEND_RATE);
        assert_eq!(
            c.failover_variables.get("2").map(String::as_str),
            Some("{text}")
        );
        let c = Config::from_raw(raw(Some(r#"{"1":"{text}"}"#), Some("50"))).unwrap();
        assert_eq!((c.failover_variables.len(), c.twilio_send_rate), (1, 50));
        for (vars, rate, var) in [
            (Some("[1]"), None, "TWILIO_FAILOVER_VARIABLES"),
            (Some("{}"), None, "TWILIO_FAILOVER_VARIABLES"),
            (None, Some("0"), "TWILIO_SEND_RATE"),
            (None, Some("fast"), "TWILIO_SEND_RATE"),
        ] {
            assert_eq!(Config::from_raw(raw(vars, rate)).unwrap_err().var, var);
        }
    }
}
