//! What the policy needs from the store: the customer's windows per number, 63016 reports, and
//! the addresses a provider can send to. Also the stored form of a request (message attributes).

use crm_store::{Contact, Direction, IdentityKind, Millis, Provider, Store, StoreResult};
use serde::{Deserialize, Serialize};

use super::policy::ConversationState;
use super::request::Content;
use crate::baileys::SIDECAR_BUSINESS_NUMBER;

/// How far back the timeline is read for a Twilio 63016.
const RECENT_MESSAGES: i64 = 50;

/// The request as kept in the message's `attributes.request` (what the worker sends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRequest {
    /// Content as the caller gave it.
    pub content: Content,
    /// Forced provider.
    pub forced: Option<Provider>,
    /// `+E164`, when known (Twilio needs it).
    pub to_e164: Option<String>,
    /// Person JID for the sidecar when no phone number is known (LID contacts).
    pub to_jid: Option<String>,
    /// The caller's key, passed on to the sidecar's `idempotencyKey`.
    pub idempotency_key: String,
}

impl StoredRequest {
    /// Address for the sidecar's `to`: digits of the number, else the JID.
    pub fn sidecar_to(&self) -> Option<String> {
        self.to_e164
            .as_deref()
            .map(|e| e.trim_start_matches('+').to_owned())
            .or_else(|| self.to_jid.clone())
    }
}

/// Addresses of a contact: (`+E164`, JID).
pub fn addresses(contact: &Contact) -> (Option<String>, Option<String>) {
    let find = |kind| {
        contact
            .identities
            .iter()
            .find(|i| i.kind == kind)
            .map(|i| i.value.clone())
    };
    let jid = find(IdentityKind::WaJid);
    let e164 = find(IdentityKind::E164).or_else(|| {
        jid.as_deref()
            .and_then(|j| shared::Jid::parse(j).ok())
            .and_then(|j| j.e164())
    });
    let jid = jid.or_else(|| find(IdentityKind::WaLid));
    (e164, jid)
}

/// The conversation state of a contact for the policy.
pub async fn conversation_state(
    store: &dyn Store,
    contact_id: i64,
    twilio_number: Option<&str>,
    req: &StoredRequest,
) -> StoreResult<ConversationState> {
    let mut st = ConversationState {
        twilio_addressable: req.to_e164.is_some(),
        sidecar_addressable: req.sidecar_to().is_some(),
        ..ConversationState::default()
    };
    for c in store.conversations(contact_id).await? {
        match c.provider {
            Provider::Baileys if c.business_number == SIDECAR_BUSINESS_NUMBER => {
                st.sidecar_last_inbound = max(st.sidecar_last_inbound, c.last_inbound_at);
            }
            Provider::Twilio if Some(c.business_number.as_str()) == twilio_number => {
                st.twilio_last_inbound = max(st.twilio_last_inbound, c.last_inbound_at);
            }
            _ => {}
        }
    }
    let recent = store
        .messages_for_contact(contact_id, None, RECENT_MESSAGES)
        .await?;
    st.twilio_63016_at = recent
        .iter()
        .filter(|m| {
            m.direction == Direction::Outbound
                && m.provider == Provider::Twilio
                && m.error_code.as_deref() == Some("63016")
        })
        .map(|m| m.created_at)
        .max();
    Ok(st)
}

fn max(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
