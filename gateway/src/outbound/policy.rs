//! The outbound routing policy (ARCHITECTURE.md "Outbound routing"): a pure function of the
//! conversation state, the message, provider health and `now`, answering which provider sends
//! the message (and whether as a template), or why it may not be sent.
//!
//! Rules, in order:
//! - a template (`ContentSid`) only goes out on Twilio;
//! - a forced provider (`provider` in the request) or `WHATSAPP_PROVIDER=twilio|baileys` fixes
//!   the provider; the 24-hour window rules still apply;
//! - reply via source: the provider of the customer's latest message answers, if its window is
//!   open on that number;
//! - 24-hour window per (contact, business number), from the provider's timestamp, with a safety
//!   margin; a Twilio 63016 after the last inbound message closes the Twilio window whatever the
//!   clock says;
//! - sidecar DOWN (or not configured) → Twilio: free-form when the customer has an open window
//!   on the Twilio number, else the failover template, else not sent;
//! - default (no open window anywhere): Twilio with a template, else not sent.

use crm_store::{Millis, Provider};
use serde::Serialize;

use crate::config::ProviderMode;

/// Length of WhatsApp's customer-service window.
pub const WINDOW_MS: Millis = 24 * 3600 * 1000;
/// Safety margin: the window is treated as closed 10 minutes early (23 h 50 m), because the
/// provider's clock, not ours, is the source of truth (twilio-and-peers.md A10).
pub const WINDOW_MARGIN_MS: Millis = 10 * 60 * 1000;

/// What the store knows about the customer's conversations with our two numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversationState {
    /// Provider timestamp of the customer's last message to the sidecar number.
    pub sidecar_last_inbound: Option<Millis>,
    /// Provider timestamp of the customer's last message to our Twilio number.
    pub twilio_last_inbound: Option<Millis>,
    /// When Twilio last answered 63016 (outside the window) for this customer, if ever.
    pub twilio_63016_at: Option<Millis>,
    /// Whether the customer can be reached on Twilio at all (a phone number is known; a
    /// LID-only contact cannot be addressed on Twilio).
    pub twilio_addressable: bool,
    /// Whether the customer can be reached on the sidecar (a phone number or JID is known).
    pub sidecar_addressable: bool,
}

/// The content of the message, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Free-form text.
    Text,
    /// Free-form media (with an optional caption).
    Media,
    /// An approved template (`ContentSid`).
    Template,
}

/// The message to route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSpec {
    /// Content kind.
    pub content: Content,
    /// Provider the caller insists on, if any.
    pub forced: Option<Provider>,
}

/// Sidecar and Twilio availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Sidecar configured (`BAILEYS_OUTBOUND_URL`) and UP.
    pub sidecar_up: bool,
    /// Twilio configured for sending (credentials and `TWILIO_WA_FROM`).
    pub twilio_ready: bool,
    /// `TWILIO_FAILOVER_CONTENT_SID` is set.
    pub failover_template: bool,
}

/// How the message goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendAs {
    /// As the caller wrote it.
    AsIs,
    /// Replaced by the failover template (free-form is not allowed there).
    FailoverTemplate,
}

/// The policy's answer; `reason` is what the `wa.provider` / `wa.error` event and the caller see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send on `provider`.
    Send {
        /// Chosen provider.
        provider: Provider,
        /// Content as given, or the failover template.
        send_as: SendAs,
        /// Why.
        reason: &'static str,
    },
    /// Wait: the only allowed provider is unavailable now; the message stays queued.
    Wait {
        /// Provider waited for.
        provider: Provider,
        /// Why.
        reason: &'static str,
    },
    /// Not sent.
    Refuse {
        /// Why (shown to the caller with a 422).
        reason: &'static str,
    },
}

/// Whether the customer's window with a number is open at `now`.
pub fn window_open(last_inbound: Option<Millis>, now: Millis) -> bool {
    last_inbound.is_some_and(|t| now < t.saturating_add(WINDOW_MS - WINDOW_MARGIN_MS))
}

impl ConversationState {
    fn sidecar_open(&self, now: Millis) -> bool {
        window_open(self.sidecar_last_inbound, now)
    }

    fn twilio_open(&self, now: Millis) -> bool {
        let closed_by_63016 = match (self.twilio_63016_at, self.twilio_last_inbound) {
            (Some(err), Some(inbound)) => err >= inbound,
            (Some(_), None) => true,
            (None, _) => false,
        };
        !closed_by_63016 && window_open(self.twilio_last_inbound, now)
    }

    /// Provider of the customer's latest message, if any.
    fn source(&self) -> Option<Provider> {
        match (self.sidecar_last_inbound, self.twilio_last_inbound) {
            (Some(b), Some(t)) if t > b => Some(Provider::Twilio),
            (Some(_), _) => Some(Provider::Baileys),
            (None, Some(_)) => Some(Provider::Twilio),
            (None, None) => None,
        }
    }
}

fn send(provider: Provider, send_as: SendAs, reason: &'static str) -> Decision {
    Decision::Send {
        provider,
        send_as,
        reason,
    }
}

fn refuse(reason: &'static str) -> Decision {
    Decision::Refuse { reason }
}

/// Sends on Twilio, respecting the window on the Twilio number.
fn via_twilio(
    st: &ConversationState,
    msg: &MessageSpec,
    health: &Health,
    now: Millis,
    open_reason: &'static str,
    template_reason: &'static str,
) -> Decision {
    if !health.twilio_ready {
        return refuse("Twilio is not configured for sending");
    }
    if !st.twilio_addressable {
        return refuse("the contact has no phone number Twilio can send to");
    }
    if msg.content == Content::Template {
        return send(Provider::Twilio, SendAs::AsIs, "template: sent via Twilio");
    }
    if st.twilio_open(now) {
        return send(Provider::Twilio, SendAs::AsIs, open_reason);
    }
    if health.failover_template {
        return send(Provider::Twilio, SendAs::FailoverTemplate, template_reason);
    }
    if st.twilio_63016_at.is_some() && window_open(st.twilio_last_inbound, now) {
        return refuse(
            "Twilio reported 63016 (outside the 24-hour window) and no failover template is configured",
        );
    }
    refuse("outside the 24-hour window and no template")
}

/// Sends on the sidecar, or waits for it when it is down and nothing else is allowed.
fn via_sidecar(
    st: &ConversationState,
    msg: &MessageSpec,
    health: &Health,
    now: Millis,
) -> Decision {
    if msg.content == Content::Template {
        return refuse("templates can only be sent via Twilio");
    }
    if !st.sidecar_addressable {
        return refuse("the contact has no WhatsApp address the sidecar can send to");
    }
    if !st.sidecar_open(now) {
        return refuse(
            "outside the 24-hour window on the sidecar number; only a Twilio template may be sent",
        );
    }
    if !health.sidecar_up {
        return Decision::Wait {
            provider: Provider::Baileys,
            reason: "sidecar is down; the message waits for it (provider fixed)",
        };
    }
    send(Provider::Baileys, SendAs::AsIs, "provider fixed: sidecar")
}

/// The routing decision for `msg` to a customer in state `st`.
pub fn decide(
    mode: ProviderMode,
    st: &ConversationState,
    msg: &MessageSpec,
    health: &Health,
    now: Millis,
) -> Decision {
    let fixed = match (msg.forced, mode) {
        (Some(p), _) => Some(p),
        (None, ProviderMode::Twilio) => Some(Provider::Twilio),
        (None, ProviderMode::Baileys) => Some(Provider::Baileys),
        (None, ProviderMode::Auto) => None,
    };
    match fixed {
        Some(Provider::Twilio) => {
            return via_twilio(
                st,
                msg,
                health,
                now,
                "provider fixed: Twilio, window open",
                "provider fixed: Twilio, outside the window: failover template",
            );
        }
        Some(Provider::Baileys) => return via_sidecar(st, msg, health, now),
        None => {}
    }
    if msg.content == Content::Template {
        return via_twilio(st, msg, health, now, "", "");
    }
    let sidecar_usable = health.sidecar_up && st.sidecar_addressable;
    let source = st.source();
    // 1. Reply via source.
    if source == Some(Provider::Baileys) && st.sidecar_open(now) {
        if sidecar_usable {
            return send(Provider::Baileys, SendAs::AsIs, "reply via source: sidecar");
        }
        return via_twilio(
            st,
            msg,
            health,
            now,
            "sidecar down: failover to Twilio (window open on the Twilio number)",
            "sidecar down: failover to Twilio with the failover template (no open window on the Twilio number)",
        );
    }
    if source == Some(Provider::Twilio) && st.twilio_open(now) && health.twilio_ready {
        return via_twilio(st, msg, health, now, "reply via source: Twilio", "");
    }
    // 2. Any other open window (the source's was closed, e.g. by a 63016).
    if st.sidecar_open(now) && sidecar_usable {
        return send(
            Provider::Baileys,
            SendAs::AsIs,
            "window open on the sidecar number",
        );
    }
    if st.twilio_open(now) {
        return via_twilio(st, msg, health, now, "window open on the Twilio number", "");
    }
    if st.sidecar_open(now) {
        return via_twilio(
            st,
            msg,
            health,
            now,
            "",
            "sidecar down: failover to Twilio with the failover template (no open window on the Twilio number)",
        );
    }
    // 3. No open window anywhere: Twilio with a template only.
    via_twilio(
        st,
        msg,
        health,
        now,
        "",
        "outside the 24-hour window: failover template via Twilio",
    )
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
