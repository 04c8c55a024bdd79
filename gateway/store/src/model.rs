//! Domain records the CRM store holds. Times are unix milliseconds (`i64`) in both backends.

use serde::{Deserialize, Serialize};

/// Unix time in milliseconds.
pub type Millis = i64;

/// Which provider carried a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Twilio's WhatsApp API.
    Twilio,
    /// The linked-device sidecar (wa-sidecar or the Node Baileys service).
    Baileys,
}

impl Provider {
    /// Stable lower-case name used in the database, events and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Twilio => "twilio",
            Provider::Baileys => "baileys",
        }
    }

    /// Inverse of [`Provider::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "twilio" => Some(Provider::Twilio),
            "baileys" => Some(Provider::Baileys),
            _ => None,
        }
    }
}

/// Message direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Customer to business.
    Inbound,
    /// Business to customer.
    Outbound,
}

impl Direction {
    /// Stable name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// Kinds of channel identity a contact can have. A contact is never keyed on a phone alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// `+972501234567`.
    E164,
    /// Twilio's business-scoped user id (BSUID, `ExternalUserId`).
    TwilioUserId,
    /// WhatsApp phone JID, `972501234567@s.whatsapp.net`.
    WaJid,
    /// WhatsApp linked identity, `123...@lid`.
    WaLid,
}

impl IdentityKind {
    /// Stable name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::E164 => "e164",
            IdentityKind::TwilioUserId => "twilio_user_id",
            IdentityKind::WaJid => "wa_jid",
            IdentityKind::WaLid => "wa_lid",
        }
    }

    /// Inverse of [`IdentityKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "e164" => IdentityKind::E164,
            "twilio_user_id" => IdentityKind::TwilioUserId,
            "wa_jid" => IdentityKind::WaJid,
            "wa_lid" => IdentityKind::WaLid,
            _ => return None,
        })
    }
}

/// One channel address of a contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// What kind of address.
    pub kind: IdentityKind,
    /// The address, normalised by the caller (E.164 with `+`, JIDs without device).
    pub value: String,
}

/// Delivery status of a message. Status moves forward only, see [`MessageStatus::rank`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Inbound message stored.
    Received,
    /// Stored, not yet handed to a provider.
    Queued,
    /// Handed to the provider, not yet confirmed sent.
    Sending,
    /// Provider sent it to WhatsApp.
    Sent,
    /// Provider could not send it.
    Failed,
    /// WhatsApp could not deliver it.
    Undelivered,
    /// On the customer's phone.
    Delivered,
    /// Read by the customer.
    Read,
}

impl MessageStatus {
    /// Order used to apply out-of-order callbacks: a status replaces the stored one only if its
    /// rank is higher. Failure outranks `sent` (a later failure report is news) but not
    /// `delivered`/`read` (proof of delivery wins over a confused report).
    pub fn rank(self) -> u8 {
        match self {
            MessageStatus::Received => 0,
            MessageStatus::Queued => 1,
            MessageStatus::Sending => 2,
            MessageStatus::Sent => 3,
            MessageStatus::Failed | MessageStatus::Undelivered => 4,
            MessageStatus::Delivered => 5,
            MessageStatus::Read => 6,
        }
    }

    /// Stable name used in the database and API.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Received => "received",
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
        }
    }

    /// Inverse of [`MessageStatus::as_str`]; also maps Twilio's `MessageStatus` values
    /// (`accepted`, `scheduled` → queued; `canceled` → failed; `receiving` → received).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "received" | "receiving" => MessageStatus::Received,
            "queued" | "accepted" | "scheduled" => MessageStatus::Queued,
            "sending" => MessageStatus::Sending,
            "sent" => MessageStatus::Sent,
            "failed" | "canceled" => MessageStatus::Failed,
            "undelivered" => MessageStatus::Undelivered,
            "delivered" => MessageStatus::Delivered,
            "read" => MessageStatus::Read,
            _ => return None,
        })
    }
}

/// The authenticated HTTP request a record came from, kept for audit and replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawWebhook {
    /// `twilio` or `baileys`.
    pub provider: Provider,
    /// Request path.
    pub route: String,
    /// Content type as received.
    pub content_type: String,
    /// The raw body.
    pub body: Vec<u8>,
    /// Twilio's `I-Twilio-Idempotency-Token` (the same on Twilio's retries). Unique when present:
    /// a second request with the same token is a duplicate whatever its body.
    pub idempotency_token: Option<String>,
    /// When it arrived.
    pub received_at: Millis,
}

/// A media attachment announced by a webhook, to be copied into the media store by a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMedia {
    /// Position among the message's attachments (Twilio's `N` in `MediaUrlN`).
    pub index: i32,
    /// Where to fetch it.
    pub url: String,
    /// MIME type announced by the provider, if any.
    pub content_type: Option<String>,
}

/// An inbound message as parsed from a webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInboundMessage {
    /// Provider it came on.
    pub provider: Provider,
    /// Our number it was sent to: Twilio's `To` (`whatsapp:+972...`) or the sidecar's identity.
    pub business_number: String,
    /// `MessageSid` for Twilio, WhatsApp `key.id` for Baileys.
    pub provider_message_id: String,
    /// The sender's addresses; the contact is found by any of them, created if none match, and
    /// every address not yet known is attached to it.
    pub identities: Vec<Identity>,
    /// `ProfileName` / push name; updates the contact's display name when present.
    pub display_name: Option<String>,
    /// `text`, `media`, `location`, `button`, ...
    pub kind: String,
    /// Text or caption.
    pub body: Option<String>,
    /// Everything else a user would want (button payload, replied-to sid, location, referral,
    /// forwarded flags) as a JSON object.
    pub attributes: serde_json::Value,
    /// The provider's own timestamp of the message, when it gives one.
    pub provider_timestamp: Option<Millis>,
    /// Attachments to copy.
    pub media: Vec<PendingMedia>,
    /// The request it came in.
    pub raw: RawWebhook,
}

/// Result of [`crate::Store::record_inbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Newly stored.
    Stored {
        /// The message row.
        message_id: i64,
        /// The contact it was filed under.
        contact_id: i64,
    },
    /// Already stored (same provider message id, or same idempotency token): nothing written.
    Duplicate,
}

/// A status callback or receipt for an outbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// Provider that reports it.
    pub provider: Provider,
    /// The provider's id of our outbound message.
    pub provider_message_id: String,
    /// New status.
    pub status: MessageStatus,
    /// Provider error code (`63016`, ...), if any.
    pub error_code: Option<String>,
    /// When the provider says it happened, or when we received it.
    pub at: Millis,
    /// The request it came in.
    pub raw: RawWebhook,
}

/// Result of [`crate::Store::apply_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    /// Status moved forward.
    Applied,
    /// Older or equal to what is stored: kept for audit, status unchanged.
    Stale,
    /// No outbound message with that provider id (yet): kept for audit only.
    UnknownMessage,
    /// Same idempotency token seen before: nothing written.
    Duplicate,
}

/// An outbound message to store before any provider is called (the outbox row).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboundMessage {
    /// Caller's idempotency key; unique across all outbound messages.
    pub idempotency_key: String,
    /// Hash of the request, so the same key with another body can be refused.
    pub request_hash: String,
    /// Recipient.
    pub contact_id: i64,
    /// Provider chosen.
    pub provider: Provider,
    /// Our number it goes out from.
    pub business_number: String,
    /// `text`, `media`, `template`.
    pub kind: String,
    /// Text or caption.
    pub body: Option<String>,
    /// Media URL, template sid and variables, ...
    pub attributes: serde_json::Value,
    /// When the caller asked.
    pub created_at: Millis,
}

/// Result of [`crate::Store::insert_outbound`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundOutcome {
    /// Stored as a new message with status `queued`.
    Created {
        /// The message row.
        message_id: i64,
    },
    /// The key exists already with the same request hash.
    Existing {
        /// The message row of the first request.
        message_id: i64,
    },
    /// The key exists already with a different request.
    Conflict,
}

/// A contact with its identities, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// Row id.
    pub id: i64,
    /// Display name (follows `ProfileName` / push name).
    pub display_name: Option<String>,
    /// All known addresses.
    pub identities: Vec<Identity>,
    /// First seen.
    pub created_at: Millis,
    /// Last message either way, if any.
    pub last_message_at: Option<Millis>,
}

/// Stored media metadata, uniform whichever provider it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaMeta {
    /// Hex sha256 of the content: the storage identity.
    pub sha256: String,
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub size: i64,
    /// Key in the media store.
    pub storage_key: String,
    /// Provider it first came from.
    pub source: Provider,
}

/// One attachment slot of a message: either still pending or stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageMedia {
    /// Position (Twilio's `N`).
    pub index: i32,
    /// Original URL at the provider.
    pub source_url: String,
    /// Stored copy, once the copy job has succeeded.
    pub stored: Option<MediaMeta>,
}

/// A timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// Row id.
    pub id: i64,
    /// Contact.
    pub contact_id: i64,
    /// Direction.
    pub direction: Direction,
    /// Provider it came in or went out on.
    pub provider: Provider,
    /// Our number.
    pub business_number: String,
    /// Provider's id, once known.
    pub provider_message_id: Option<String>,
    /// `text`, `media`, ...
    pub kind: String,
    /// Text or caption.
    pub body: Option<String>,
    /// Extra fields.
    pub attributes: serde_json::Value,
    /// Current status.
    pub status: MessageStatus,
    /// Provider error code of the last failure.
    pub error_code: Option<String>,
    /// Provider's timestamp.
    pub provider_timestamp: Option<Millis>,
    /// When we stored it.
    pub created_at: Millis,
    /// Attachments.
    pub media: Vec<MessageMedia>,
}

/// An entry of the event log (the dashboard's feed). `id` is the cursor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Monotonic cursor.
    pub id: i64,
    /// `wa.inbound`, `wa.outbound`, `wa.provider`, `wa.media`, `wa.error`, `lead.update`.
    pub kind: String,
    /// Contact concerned, if any.
    pub contact_id: Option<i64>,
    /// Message concerned, if any.
    pub message_id: Option<i64>,
    /// Details.
    pub payload: serde_json::Value,
    /// When.
    pub created_at: Millis,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// See [`Event::kind`].
    pub kind: String,
    /// Contact concerned, if any.
    pub contact_id: Option<i64>,
    /// Message concerned, if any.
    pub message_id: Option<i64>,
    /// Details.
    pub payload: serde_json::Value,
    /// When.
    pub created_at: Millis,
}

/// A unit of slow work (media copy, enrichment) kept in the store so a crash never loses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// `media_fetch`, ...
    pub kind: String,
    /// Job-specific data.
    pub payload: serde_json::Value,
    /// Attempts so far (including the one this claim starts).
    pub attempts: i32,
}
