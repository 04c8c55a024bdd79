//! Records of the outbound outbox (see [`crate::Store::enqueue_outbound`]).

use serde::Serialize;

use crate::Provider;

/// An outbox entry leased to a delivery worker by [`crate::Store::claim_outbox`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    /// The outbound message to deliver.
    pub message_id: i64,
    /// Attempts so far, including the one this claim starts.
    pub attempts: i32,
    /// Provider of an earlier attempt whose outcome is unknown (crash or timeout after the
    /// request went out): look the message up there before sending again.
    pub in_flight: Option<Provider>,
}

/// Where one delivery attempt sends a message (recorded before the provider is called).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundRoute {
    /// Provider called.
    pub provider: Provider,
    /// Our number on that provider (`+E164` for Twilio, `baileys` for the sidecar).
    pub business_number: String,
    /// The message's attributes after routing (e.g. the failover template used).
    pub attributes: serde_json::Value,
}
