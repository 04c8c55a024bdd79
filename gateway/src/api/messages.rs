//! `POST /api/messages` (send) and `GET /api/providers` (provider state).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crm_store::{
    Identity, IdentityKind, NewEvent, NewOutboundMessage, OutboundOutcome, Provider, StoreError,
};
use serde_json::{Value, json};

use super::store_failure;
use crate::app::AppState;
use crate::baileys::SIDECAR_BUSINESS_NUMBER;
use crate::outbound::policy::{self, Decision};
use crate::outbound::request::{Recipient, SendBody, validate};
use crate::outbound::state::{StoredRequest, addresses, conversation_state};
use crate::respond::now_millis;

fn field_error(status: StatusCode, field: &str, why: &str) -> Response {
    (status, Json(json!({ "error": why, "field": field }))).into_response()
}

/// Finds (or for a number/JID, creates) the contact.
async fn resolve(st: &AppState, r: &Recipient) -> Result<Result<i64, Response>, StoreError> {
    let now = now_millis();
    let identities: Vec<Identity> = match r {
        Recipient::Contact(id) => {
            return Ok(match st.store.contact(*id).await? {
                Some(c) => Ok(c.id),
                None => Err(field_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "contactId",
                    "no such contact",
                )),
            });
        }
        Recipient::Phone(e164) => {
            let jid = shared::Jid::user(e164.trim_start_matches('+')).to_string();
            vec![
                Identity {
                    kind: IdentityKind::E164,
                    value: e164.clone(),
                },
                Identity {
                    kind: IdentityKind::WaJid,
                    value: jid,
                },
            ]
        }
        Recipient::Jid(jid) => {
            let mut v = Vec::new();
            if jid.server == shared::JidServer::Lid {
                v.push(Identity {
                    kind: IdentityKind::WaLid,
                    value: jid.to_string(),
                });
            } else {
                v.push(Identity {
                    kind: IdentityKind::WaJid,
                    value: jid.to_string(),
                });
                if let Some(e) = jid.e164() {
                    v.push(Identity {
                        kind: IdentityKind::E164,
                        value: e,
                    });
                }
            }
            v
        }
    };
    for i in &identities {
        if let Some(id) = st.store.find_contact(i).await? {
            return Ok(Ok(id));
        }
    }
    Ok(Ok(st.store.upsert_contact(&identities, None, now).await?))
}

/// `POST /api/messages`.
pub async fn send(
    State(st): State<Arc<AppState>>,
    body: Result<Json<SendBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return field_error(StatusCode::BAD_REQUEST, "body", &e.body_text()),
    };
    let req = match validate(&body) {
        Ok(r) => r,
        Err(e) => return field_error(StatusCode::BAD_REQUEST, e.field, &e.why),
    };
    let contact_id = match resolve(&st, &req.recipient).await {
        Ok(Ok(id)) => id,
        Ok(Err(resp)) => return resp,
        Err(e) => return store_failure(&e),
    };
    let contact = match st.store.contact(contact_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return field_error(StatusCode::UNPROCESSABLE_ENTITY, "to", "no such contact"),
        Err(e) => return store_failure(&e),
    };
    let (to_e164, to_jid) = addresses(&contact);
    let stored = StoredRequest {
        content: req.content.clone(),
        forced: req.forced,
        to_e164,
        to_jid,
        idempotency_key: req.idempotency_key.clone(),
    };
    let ob = &st.outbound;
    let now = now_millis();
    let state = match conversation_state(
        &*st.store,
        contact_id,
        ob.twilio_number.as_deref(),
        &stored,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return store_failure(&e),
    };
    let spec = policy::MessageSpec {
        content: req.content.policy_kind(),
        forced: req.forced,
    };
    let decision = policy::decide(ob.mode, &state, &spec, &ob.policy_health(), now);
    let (provider, send_as, reason, waiting) = match decision {
        Decision::Refuse { reason } => {
            ob.count_refused();
            let event = NewEvent {
                kind: "wa.error".into(),
                contact_id: Some(contact_id),
                message_id: None,
                payload: json!({
                    "reason": reason,
                    "idempotencyKey": req.idempotency_key,
                    "kind": req.content.kind(),
                    "stage": "routing",
                }),
                created_at: now,
            };
            match st.store.append_event(&event).await {
                Ok(_) => st.notify_events(),
                Err(e) => return store_failure(&e),
            }
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": reason, "contactId": contact_id })),
            )
                .into_response();
        }
        Decision::Send {
            provider,
            send_as,
            reason,
        } => (provider, send_as, reason, false),
        Decision::Wait { provider, reason } => (provider, policy::SendAs::AsIs, reason, true),
    };
    let business_number = match provider {
        Provider::Baileys => SIDECAR_BUSINESS_NUMBER.to_owned(),
        Provider::Twilio => ob.twilio_number.clone().unwrap_or_default(),
    };
    let decision_json = json!({
        "provider": provider.as_str(),
        "send_as": send_as,
        "reason": reason,
        "waiting": waiting,
    });
    let attributes = json!({
        "request": stored,
        "decision": decision_json,
        "contact_name": contact.display_name,
    });
    let msg = NewOutboundMessage {
        idempotency_key: req.idempotency_key.clone(),
        request_hash: req.hash(),
        contact_id,
        provider,
        business_number,
        kind: req.content.kind().into(),
        body: req.content.body(),
        attributes,
        created_at: now,
    };
    let mut payload = decision_json.clone();
    if let Some(o) = payload.as_object_mut() {
        o.insert("contact_id".into(), json!(contact_id));
    }
    let event = NewEvent {
        kind: "wa.provider".into(),
        contact_id: Some(contact_id),
        message_id: None,
        payload,
        created_at: now,
    };
    match st.store.enqueue_outbound(&msg, &event).await {
        Ok(OutboundOutcome::Created { message_id }) => {
            ob.work.notify_one();
            st.notify_events();
            accepted(message_id, provider.as_str(), "queued", reason, false)
        }
        Ok(OutboundOutcome::Existing { message_id }) => match st.store.message(message_id).await {
            Ok(Some(m)) => accepted(
                message_id,
                m.provider.as_str(),
                m.status.as_str(),
                m.attributes["decision"]["reason"].as_str().unwrap_or(""),
                true,
            ),
            Ok(None) => store_failure(&StoreError::NotFound(format!("message {message_id}"))),
            Err(e) => store_failure(&e),
        },
        Ok(OutboundOutcome::Conflict) => field_error(
            StatusCode::CONFLICT,
            "idempotencyKey",
            "this idempotencyKey was used for a different message",
        ),
        Err(StoreError::NotFound(_)) => {
            field_error(StatusCode::UNPROCESSABLE_ENTITY, "to", "no such contact")
        }
        Err(e) => store_failure(&e),
    }
}

fn accepted(id: i64, provider: &str, status: &str, reason: &str, duplicate: bool) -> Response {
    let body: Value = json!({
        "id": id,
        "provider": provider,
        "status": status,
        "reason": reason,
        "duplicate": duplicate,
    });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `GET /api/providers`.
pub async fn providers(State(st): State<Arc<AppState>>) -> Response {
    let pending = st.store.outbox_pending().await.ok();
    Json(st.outbound.state_json(pending)).into_response()
}
