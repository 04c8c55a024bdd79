//! The outbox worker: leases due entries and delivers each one, failing over from the sidecar
//! to Twilio within the same attempt, retrying with backoff, and resolving ambiguous earlier
//! attempts by a lookup at the provider before any resend.

use std::sync::Arc;
use std::time::Duration;

use crm_store::{Message, MessageStatus, Millis, NewEvent, OutboundRoute, OutboxEntry, Provider};
use serde_json::{Value, json};

use super::policy::{self, Decision, SendAs};
use super::rate::{backoff, jitter};
use super::sidecar_api::SidecarOutcome;
use super::state::{StoredRequest, conversation_state};
use super::twilio_api::{FailureKind, TwilioContent, matches};
use crate::app::AppState;
use crate::baileys::SIDECAR_BUSINESS_NUMBER;
use crate::respond::now_millis;

/// Entries delivered side by side per round.
const BATCH: i64 = 16;
/// How long a leased entry stays ours: longer than one attempt can last (sidecar 5 s, Twilio
/// 10 s, a lookup 10 s); a crashed worker's entries are due again after it.
pub const LEASE_MS: Millis = 30_000;
/// Poll interval when idle (new messages wake the worker at once).
const POLL: Duration = Duration::from_millis(500);
/// Clock difference allowed between us and Twilio when looking a send up.
const LOOKUP_SKEW_MS: Millis = 5_000;
/// Decisions per attempt (sidecar → Twilio → template after 63016).
const MAX_ROUTES: usize = 3;

/// Runs until shutdown.
pub async fn run(st: Arc<AppState>) {
    let mut stop = st.shutdown_signal();
    loop {
        if *stop.borrow() {
            break;
        }
        let claimed = match st.store.claim_outbox(now_millis(), BATCH, LEASE_MS).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot claim");
                Vec::new()
            }
        };
        let n = claimed.len();
        futures_util::future::join_all(claimed.into_iter().map(|e| deliver(&st, e))).await;
        if n > 0 {
            continue;
        }
        tokio::select! {
            () = st.outbound.work.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
    }
    tracing::debug!("outbox worker stopped");
}

fn retry_at(attempts: i32, retry_after: Option<Duration>) -> Millis {
    let d = backoff(attempts, jitter(), retry_after);
    now_millis() + i64::try_from(d.as_millis()).unwrap_or(30_000)
}

async fn event(st: &AppState, msg: &Message, payload: Value) {
    let e = NewEvent {
        kind: "wa.provider".into(),
        contact_id: Some(msg.contact_id),
        message_id: Some(msg.id),
        payload,
        created_at: now_millis(),
    };
    if let Err(err) = st.store.append_event(&e).await {
        tracing::warn!(error = %err, "outbox: cannot record a routing event");
    }
}

/// Logs a store failure of a bookkeeping call; the lease then expires and the entry is retried.
fn note(result: crm_store::StoreResult<()>, message_id: i64, what: &str) {
    if let Err(e) = result {
        tracing::warn!(message_id, error = %e, "outbox: cannot record {what}; retried after the lease");
    }
}

/// Delivers one entry.
pub async fn deliver(st: &AppState, entry: OutboxEntry) {
    let id = entry.message_id;
    let msg = match st.store.message(id).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            tracing::error!(message_id = id, "outbox entry without a message");
            return;
        }
        Err(e) => {
            tracing::warn!(message_id = id, error = %e, "outbox: store unavailable");
            return;
        }
    };
    if let Some(pid) = &msg.provider_message_id {
        let r = st
            .store
            .outbox_sent(id, msg.provider, pid, msg.status, now_millis())
            .await;
        return note(r, id, "an earlier acceptance");
    }
    let req: StoredRequest = match serde_json::from_value(msg.attributes["request"].clone()) {
        Ok(r) => r,
        Err(e) => {
            let r = st
                .store
                .outbox_failed(
                    id,
                    None,
                    &format!("stored request unreadable: {e}"),
                    now_millis(),
                )
                .await;
            return note(r, id, "a failure");
        }
    };
    // An earlier attempt on Twilio may have gone out: look it up before sending again.
    if entry.in_flight == Some(Provider::Twilio)
        && let Some(twilio) = &st.outbound.twilio
        && let Some(to) = &req.to_e164
    {
        let since = msg.attributes["attempt"]["at"]
            .as_i64()
            .unwrap_or(msg.created_at);
        let content = twilio_content(st, &msg, &req, sent_as(&msg));
        match twilio.find_sent(to, since - LOOKUP_SKEW_MS).await {
            Ok(found) => {
                if let Some(m) = found.iter().find(|m| matches(m, &content)) {
                    let status = MessageStatus::parse(&m.status).unwrap_or(MessageStatus::Queued);
                    tracing::info!(message_id = id, sid = %m.sid, "outbox: earlier ambiguous Twilio attempt had gone out");
                    let r = st
                        .store
                        .outbox_sent(id, Provider::Twilio, &m.sid, status, now_millis())
                        .await;
                    note(r, id, "the looked-up send");
                    st.notify_events();
                    return;
                }
            }
            Err(f) => {
                let r = st
                    .store
                    .outbox_retry(
                        id,
                        retry_at(entry.attempts, f.retry_after),
                        &f.message,
                        true,
                    )
                    .await;
                return note(r, id, "a retry");
            }
        }
    }
    let pinned = entry.in_flight == Some(Provider::Baileys);
    let decision = if pinned {
        // The sidecar may have sent it: only the sidecar, with the same key, may try again.
        if st.outbound.health.is_up() {
            Decision::Send {
                provider: Provider::Baileys,
                send_as: SendAs::AsIs,
                reason: "earlier sidecar attempt unresolved: retried with the same idempotencyKey",
            }
        } else {
            Decision::Wait {
                provider: Provider::Baileys,
                reason: "earlier sidecar attempt unresolved and the sidecar is down",
            }
        }
    } else {
        match decide(st, &msg, &req).await {
            Some(d) => d,
            None => return,
        }
    };
    route(st, &entry, &msg, &req, decision, pinned).await;
    st.notify_events();
}

/// Runs the policy with current health.
async fn decide(st: &AppState, msg: &Message, req: &StoredRequest) -> Option<Decision> {
    let ob = &st.outbound;
    let state = match conversation_state(
        &*st.store,
        msg.contact_id,
        ob.twilio_number.as_deref(),
        req,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(message_id = msg.id, error = %e, "outbox: store unavailable");
            return None;
        }
    };
    let spec = policy::MessageSpec {
        content: req.content.policy_kind(),
        forced: req.forced,
    };
    Some(policy::decide(
        ob.mode,
        &state,
        &spec,
        &ob.policy_health(),
        now_millis(),
    ))
}

fn sent_as(msg: &Message) -> SendAs {
    match msg.attributes["sent_as"].as_str() {
        Some("failover_template") => SendAs::FailoverTemplate,
        _ => SendAs::AsIs,
    }
}

fn twilio_content(st: &AppState, msg: &Message, req: &StoredRequest, as_: SendAs) -> TwilioContent {
    use super::request::Content;
    if let (SendAs::FailoverTemplate, Some(t)) = (as_, &st.outbound.failover) {
        let name = msg.attributes["contact_name"].as_str();
        let text = req.content.body();
        let variables = t.render(name, text.as_deref(), req.to_e164.as_deref());
        return TwilioContent::Template {
            sid: t.content_sid.clone(),
            variables,
        };
    }
    match &req.content {
        Content::Text { text } => TwilioContent::Text(text.clone()),
        Content::Media { url, caption, .. } => TwilioContent::Media {
            url: url.clone(),
            caption: caption.clone(),
        },
        Content::Template {
            content_sid,
            variables,
        } => TwilioContent::Template {
            sid: content_sid.clone(),
            variables: serde_json::to_string(&variables).unwrap_or_else(|_| "{}".into()),
        },
    }
}

fn with_attempt(msg: &Message, provider: Provider, as_: SendAs, now: Millis) -> Value {
    let mut a = msg.attributes.clone();
    if let Some(obj) = a.as_object_mut() {
        obj.insert(
            "attempt".into(),
            json!({ "provider": provider.as_str(), "at": now }),
        );
        obj.insert("sent_as".into(), json!(as_));
    }
    a
}

/// Carries out `decision`, re-deciding after a sidecar failure or a Twilio 63016.
async fn route(
    st: &AppState,
    entry: &OutboxEntry,
    msg: &Message,
    req: &StoredRequest,
    mut decision: Decision,
    pinned: bool,
) {
    let id = msg.id;
    let ob = &st.outbound;
    let initial = msg.attributes["decision"].clone();
    for _ in 0..MAX_ROUTES {
        let (provider, as_, reason) = match decision {
            Decision::Refuse { reason } => {
                ob.count_refused();
                let r = st.store.outbox_failed(id, None, reason, now_millis()).await;
                return note(r, id, "a refusal");
            }
            Decision::Wait { reason, .. } => {
                let r = st
                    .store
                    .outbox_retry(id, retry_at(entry.attempts, None), reason, pinned)
                    .await;
                return note(r, id, "a wait");
            }
            Decision::Send {
                provider,
                send_as,
                reason,
            } => (provider, send_as, reason),
        };
        if initial["provider"].as_str() != Some(provider.as_str())
            || initial["send_as"] != json!(as_)
        {
            event(
                st,
                msg,
                json!({ "message_id": id, "provider": provider.as_str(), "send_as": as_,
                        "reason": reason, "rerouted": true }),
            )
            .await;
        }
        let now = now_millis();
        let business_number = match provider {
            Provider::Baileys => SIDECAR_BUSINESS_NUMBER.to_owned(),
            Provider::Twilio => ob.twilio_number.clone().unwrap_or_default(),
        };
        let attempt = OutboundRoute {
            provider,
            business_number,
            attributes: with_attempt(msg, provider, as_, now),
        };
        match provider {
            Provider::Baileys => {
                let (Some(sidecar), Some(to)) = (&ob.sidecar, req.sidecar_to()) else {
                    let r = st
                        .store
                        .outbox_failed(id, None, "sidecar not configured or no address", now)
                        .await;
                    return note(r, id, "a failure");
                };
                if let Err(e) = st.store.outbox_attempt(id, &attempt, now).await {
                    return note(Err(e), id, "the attempt");
                }
                let (text, media) = match &req.content {
                    super::request::Content::Text { text } => (Some(text.as_str()), None),
                    super::request::Content::Media { url, caption, .. } => {
                        (None, Some((url.as_str(), caption.as_deref())))
                    }
                    super::request::Content::Template { .. } => (None, None),
                };
                match sidecar.send(&to, text, media, &req.idempotency_key).await {
                    SidecarOutcome::Sent(wa_id) => {
                        ob.count_send(Provider::Baileys, "sent");
                        let r = st
                            .store
                            .outbox_sent(
                                id,
                                Provider::Baileys,
                                &wa_id,
                                MessageStatus::Sent,
                                now_millis(),
                            )
                            .await;
                        return note(r, id, "the acceptance");
                    }
                    SidecarOutcome::Busy {
                        retry_after,
                        reason,
                    } => {
                        ob.count_send(Provider::Baileys, "retry");
                        let r = st
                            .store
                            .outbox_retry(
                                id,
                                retry_at(entry.attempts, retry_after),
                                &reason,
                                pinned,
                            )
                            .await;
                        return note(r, id, "a retry");
                    }
                    SidecarOutcome::Rejected(reason) => {
                        ob.count_send(Provider::Baileys, "failed");
                        let r = st
                            .store
                            .outbox_failed(id, None, &reason, now_millis())
                            .await;
                        return note(r, id, "a failure");
                    }
                    SidecarOutcome::Down { reason, ambiguous } => {
                        ob.count_send(Provider::Baileys, "down");
                        let t_now = now_millis();
                        if let Some(t) = ob.health.mark_down(&reason, t_now) {
                            super::report_transition(st, &t, t_now).await;
                        }
                        let fixed = pinned
                            || req.forced == Some(Provider::Baileys)
                            || ob.mode == crate::config::ProviderMode::Baileys;
                        if fixed {
                            let r = st
                                .store
                                .outbox_retry(
                                    id,
                                    retry_at(entry.attempts, None),
                                    &reason,
                                    // An unresolved earlier sidecar attempt stays unresolved.
                                    ambiguous || pinned,
                                )
                                .await;
                            return note(r, id, "a retry");
                        }
                        ob.count_failover();
                        tracing::info!(message_id = id, %reason, ambiguous, "sidecar failed: re-routing");
                        decision = match decide(st, msg, req).await {
                            Some(d) => d,
                            None => return,
                        };
                        continue;
                    }
                }
            }
            Provider::Twilio => {
                let (Some(twilio), Some(to)) = (&ob.twilio, &req.to_e164) else {
                    let r = st
                        .store
                        .outbox_failed(id, None, "Twilio not configured or no phone number", now)
                        .await;
                    return note(r, id, "a failure");
                };
                let content = twilio_content(st, msg, req, as_);
                ob.twilio_rate.acquire().await;
                if let Err(e) = st.store.outbox_attempt(id, &attempt, now_millis()).await {
                    return note(Err(e), id, "the attempt");
                }
                match twilio.send(to, &content).await {
                    Ok(m) => {
                        ob.count_send(Provider::Twilio, "sent");
                        let status =
                            MessageStatus::parse(&m.status).unwrap_or(MessageStatus::Queued);
                        let r = st
                            .store
                            .outbox_sent(id, Provider::Twilio, &m.sid, status, now_millis())
                            .await;
                        return note(r, id, "the acceptance");
                    }
                    Err(f) if f.kind == FailureKind::Permanent => {
                        let code = f.code.as_deref();
                        let templatable = code == Some("63016")
                            && as_ == SendAs::AsIs
                            && !matches!(req.content, super::request::Content::Template { .. })
                            && ob.failover.is_some();
                        if templatable {
                            decision = Decision::Send {
                                provider: Provider::Twilio,
                                send_as: SendAs::FailoverTemplate,
                                reason: "Twilio 63016 (outside the window): resent as the failover template",
                            };
                            continue;
                        }
                        ob.count_send(Provider::Twilio, "failed");
                        let r = st
                            .store
                            .outbox_failed(id, code, &f.message, now_millis())
                            .await;
                        return note(r, id, "a failure");
                    }
                    Err(f) => {
                        ob.count_send(Provider::Twilio, "retry");
                        tracing::info!(message_id = id, error = %f, "Twilio send failed; will retry");
                        let ambiguous = f.kind == FailureKind::Ambiguous;
                        let r = st
                            .store
                            .outbox_retry(
                                id,
                                retry_at(entry.attempts, f.retry_after),
                                &f.message,
                                ambiguous,
                            )
                            .await;
                        return note(r, id, "a retry");
                    }
                }
            }
        }
    }
    let r = st
        .store
        .outbox_retry(
            id,
            retry_at(entry.attempts, None),
            "no route settled",
            false,
        )
        .await;
    note(r, id, "a retry");
}
