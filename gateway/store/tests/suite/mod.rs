//! The store test suite, run against every backend (`tests/sqlite.rs`, `tests/postgres.rs`).
//! Each case gets a fresh, migrated, empty store.

#![allow(dead_code, unreachable_pub)]

mod inbound;
mod outbound;
mod outbox;
mod queue;

pub use inbound::*;
pub use outbound::*;
pub use outbox::*;
pub use queue::*;

use crm_store::{
    Identity, IdentityKind, MessageStatus, Millis, NewInboundMessage, NewOutboundMessage,
    PendingMedia, Provider, RawWebhook, StatusUpdate,
};
use serde_json::json;

/// Generates one `#[tokio::test]` per case, each running `$harness(suite::case)`.
macro_rules! store_cases {
    ($harness:ident) => {
        store_cases!(@gen $harness;
            inbound_stored_with_everything,
            duplicate_by_provider_id_writes_nothing,
            duplicate_by_idempotency_token_writes_nothing,
            hundred_concurrent_identical_deliveries_store_one,
            concurrent_messages_from_new_contact_make_one_contact,
            contact_found_by_second_identity_and_new_identity_attached,
            display_name_follows_latest,
            last_inbound_at_moves_forward_only,
            hebrew_text_round_trips,
            upsert_contact_without_identity_is_refused,
            contacts_page_by_id,
            status_moves_forward_only,
            status_for_unknown_message_is_kept_for_audit,
            outbound_insert_created_existing_conflict,
            mark_outbound_sent_records_provider_id,
            timeline_pages_newest_first_with_media_slots,
            events_after_cursor,
            jobs_claim_lease_retry_bury_backlog,
            concurrent_workers_never_share_a_job,
            attach_media_dedups_and_is_idempotent,
            closed_store_reports_unavailable,
            outbox_enqueue_is_idempotent_and_records_decision,
            outbox_lease_attempt_retry_and_sent,
            outbox_failed_records_code_and_error_event,
            concurrent_outbox_workers_never_share_an_entry,
        );
    };
    (@gen $harness:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $harness(suite::$case).await;
            }
        )*
    };
}

/// A base time (2026-01-01) so tests read as offsets.
pub const T0: Millis = 1_767_225_600_000;

pub fn e164(v: &str) -> Identity {
    Identity {
        kind: IdentityKind::E164,
        value: v.into(),
    }
}

pub fn twilio_uid(v: &str) -> Identity {
    Identity {
        kind: IdentityKind::TwilioUserId,
        value: v.into(),
    }
}

pub fn lid(v: &str) -> Identity {
    Identity {
        kind: IdentityKind::WaLid,
        value: v.into(),
    }
}

pub fn raw(token: Option<&str>, at: Millis) -> RawWebhook {
    RawWebhook {
        provider: Provider::Twilio,
        route: "/webhooks/twilio".into(),
        content_type: "application/x-www-form-urlencoded".into(),
        body: format!("MessageSid=x&at={at}").into_bytes(),
        idempotency_token: token.map(str::to_owned),
        received_at: at,
    }
}

/// An inbound Twilio text message from `identities`, provider timestamp `at`.
pub fn inbound(
    sid: &str,
    identities: Vec<Identity>,
    name: Option<&str>,
    at: Millis,
) -> NewInboundMessage {
    NewInboundMessage {
        provider: Provider::Twilio,
        business_number: "whatsapp:+14155238886".into(),
        provider_message_id: sid.into(),
        identities,
        display_name: name.map(str::to_owned),
        kind: "text".into(),
        body: Some(format!("hello {sid}")),
        attributes: json!({ "sid": sid }),
        provider_timestamp: Some(at),
        media: Vec::new(),
        raw: raw(None, at),
    }
}

/// `inbound` with `n` media attachments.
pub fn with_media(mut msg: NewInboundMessage, n: i32) -> NewInboundMessage {
    msg.kind = "media".into();
    msg.media = (0..n)
        .map(|i| PendingMedia {
            index: i,
            url: format!(
                "https://api.twilio.com/media/{}/{i}",
                msg.provider_message_id
            ),
            content_type: Some("image/jpeg".into()),
        })
        .collect();
    msg
}

pub fn outbound(key: &str, hash: &str, contact_id: i64) -> NewOutboundMessage {
    NewOutboundMessage {
        idempotency_key: key.into(),
        request_hash: hash.into(),
        contact_id,
        provider: Provider::Twilio,
        business_number: "whatsapp:+14155238886".into(),
        kind: "text".into(),
        body: Some("your order shipped".into()),
        attributes: json!({}),
        created_at: T0,
    }
}

pub fn status(sid: &str, status: MessageStatus, token: Option<&str>, at: Millis) -> StatusUpdate {
    StatusUpdate {
        provider: Provider::Twilio,
        provider_message_id: sid.into(),
        status,
        error_code: None,
        at,
        raw: raw(token, at),
    }
}
