//! Admin HTTP API (axum), on its own port:
//! * `POST /admin/scan` `{"qr","phone"}`: the phone scans a QR code; answers once the companion
//!   signed the device identity (200 with the device) or failed;
//! * `POST /admin/pair-code` `{"phone","code"}`: the phone's user types a pairing code;
//! * `GET /admin/devices`, `GET /admin/state`;
//! * `POST /admin/fault`
//!   `{"kind":"drop"|"stream_error"|"delay_ms"|"refuse_logins"|"refuse_logouts", ...}`;
//! * `POST /admin/remove-device` `{"jid"}`: log a device out.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::registry::DeviceView;
use crate::server::{Command, ScanFailure, Shared};
use crate::session::{PairError, ScanError};
use crate::stanzas::StreamError;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/admin/scan", post(scan))
        .route("/admin/pair-code", post(pair_code))
        .route("/admin/devices", get(devices))
        .route("/admin/state", get(state))
        .route("/admin/fault", post(fault))
        .route("/admin/remove-device", post(remove_device))
        .with_state(shared)
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

#[derive(Deserialize)]
struct ScanRequest {
    qr: String,
    phone: String,
}

async fn scan(State(shared): State<Arc<Shared>>, Json(req): Json<ScanRequest>) -> Response {
    paired(crate::server::scan(&shared, &req.qr, &req.phone).await)
}

#[derive(Deserialize)]
struct PairCodeRequest {
    phone: String,
    code: String,
}

async fn pair_code(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<PairCodeRequest>,
) -> Response {
    paired(crate::server::enter_code(&shared, &req.phone, &req.code).await)
}

/// 200 with the device, or the failure: 400 bad QR/code, 403 wrong code, 404 no such
/// companion, 409 not possible on that connection, 410 gone, 502 pairing failed, 504 timeout.
fn paired(result: Result<DeviceView, ScanFailure>) -> Response {
    match result {
        Ok(device) => (StatusCode::OK, Json(device)).into_response(),
        Err(e) => {
            let status = match &e {
                ScanFailure::BadQr(_) | ScanFailure::Scan(ScanError::BadCode) => {
                    StatusCode::BAD_REQUEST
                }
                ScanFailure::NoSuchCompanion | ScanFailure::NoCodeRequest => StatusCode::NOT_FOUND,
                ScanFailure::Gone => StatusCode::GONE,
                ScanFailure::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                ScanFailure::Scan(_) => StatusCode::CONFLICT,
                ScanFailure::Pair(PairError::WrongCode) => StatusCode::FORBIDDEN,
                ScanFailure::Pair(_) => StatusCode::BAD_GATEWAY,
            };
            error(status, e)
        }
    }
}

async fn devices(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.registry().device_views()).into_response()
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    let connections: Vec<_> = shared
        .conns()
        .iter()
        .map(|(id, c)| {
            json!({
                "id": id,
                "jid": c.jid,
                "unpaired": c.unpaired,
                "noise_key": hex::encode(c.noise_public),
            })
        })
        .collect();
    let (held_receipts, unacked) = {
        let d = shared.deliveries();
        (d.held(), d.counts())
    };
    let registry = shared.registry();
    Json(json!({
        "root_key": shared.identity.root_public_hex(),
        "held_receipts": held_receipts,
        "unacked": unacked,
        "connections": connections,
        "devices": registry.device_views().len(),
        "accounts": registry.account_count(),
        "faults": {
            "delay_ms": shared.faults.delay_ms.load(Ordering::Relaxed),
            "refuse_logins": shared.faults.refuse_logins.load(Ordering::Relaxed),
            "refuse_logouts": shared.faults.refuse_logouts.load(Ordering::Relaxed),
        },
    }))
    .into_response()
}

/// A fault to inject.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Fault {
    /// Close every connection now.
    Drop,
    /// Send `<stream:error>` to every connection (or only `jid`'s) and close.
    StreamError { code: String, jid: Option<String> },
    /// Delay every outbound frame by `ms` (0 turns it off).
    DelayMs { ms: u64 },
    /// Answer logins with `<failure reason="401"/>`.
    RefuseLogins { on: bool },
    /// Answer `remove-companion-device` (a companion's logout) with error 500.
    RefuseLogouts { on: bool },
    /// Ignore the receipts devices send (see [`crate::delivery`]).
    HoldReceipts { on: bool },
}

/// Sends `make()` to every connection matching `jid` (all when `None`); returns how many.
fn broadcast(shared: &Shared, jid: Option<&str>, make: impl Fn() -> Command) -> usize {
    shared
        .conns()
        .values()
        .filter(|c| jid.is_none_or(|j| c.jid.as_deref() == Some(j)))
        .filter(|c| c.tx.send(make()).is_ok())
        .count()
}

async fn fault(State(shared): State<Arc<Shared>>, Json(fault): Json<Fault>) -> Response {
    tracing::info!(?fault, "fault injected");
    let affected = match fault {
        Fault::Drop => broadcast(&shared, None, || Command::Drop),
        Fault::StreamError { code, jid } => {
            let Some(err) = StreamError::parse(&code) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown stream error code `{code}`"),
                );
            };
            broadcast(&shared, jid.as_deref(), || {
                Command::StreamError(err.clone())
            })
        }
        Fault::DelayMs { ms } => {
            shared.faults.delay_ms.store(ms, Ordering::Relaxed);
            0
        }
        Fault::RefuseLogins { on } => {
            shared.faults.refuse_logins.store(on, Ordering::Relaxed);
            0
        }
        Fault::RefuseLogouts { on } => {
            shared.faults.refuse_logouts.store(on, Ordering::Relaxed);
            0
        }
        Fault::HoldReceipts { on } => {
            shared.deliveries().set_hold(on);
            0
        }
    };
    Json(json!({ "ok": true, "connections": affected })).into_response()
}

#[derive(Deserialize)]
struct RemoveDevice {
    jid: String,
}

async fn remove_device(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<RemoveDevice>,
) -> Response {
    if shared.registry().remove(&req.jid).is_none() {
        return error(StatusCode::NOT_FOUND, "no such device");
    }
    let affected = broadcast(&shared, Some(&req.jid), || {
        Command::StreamError(StreamError::DeviceRemoved)
    });
    tracing::info!(jid = %req.jid, affected, "device removed");
    Json(json!({ "ok": true, "connections": affected })).into_response()
}
