//! Hosted media, as Twilio serves inbound `MediaUrl{N}` (fact sheet A8): the media URL requires
//! HTTP Basic auth and answers with a redirect to an unauthenticated "CDN" URL on a different
//! origin. Like the presigned S3 URL Twilio redirects to, the CDN refuses a request that still
//! carries an `Authorization` header ("only one auth mechanism allowed") [mem], so a client that
//! leaks credentials across the redirect fails visibly.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;

use crate::model::{API_VERSION, new_sid};
use crate::rest::authenticate;
use crate::state::{AppState, Media, Shared};
use crate::twilio_error::TwilioError;

/// Stores `bytes`; returns the media SID.
pub fn store(st: &Shared, content_type: &str, bytes: Bytes) -> String {
    let sid = new_sid("ME");
    let token: [u8; 24] = rand::thread_rng().r#gen();
    st.lock().media.insert(
        sid.clone(),
        Media {
            content_type: content_type.to_owned(),
            bytes,
            cdn_token: hex::encode(token),
        },
    );
    sid
}

/// The Twilio-shaped URL of media `media_sid` attached to message `message_sid`.
pub fn media_url(st: &Shared, message_sid: &str, media_sid: &str) -> String {
    format!(
        "{}/{API_VERSION}/Accounts/{}/Messages/{message_sid}/Media/{media_sid}",
        st.base_url, st.account_sid
    )
}

fn redirect_to_cdn(st: &Shared, media_sid: &str, path: &str) -> Response {
    let token = st.lock().media.get(media_sid).map(|m| m.cdn_token.clone());
    let Some(token) = token else {
        return TwilioError::not_found(path).into_response();
    };
    let location = format!("{}/cdn/{token}", st.cdn_base_url);
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => TwilioError::server(500).into_response(),
    }
}

/// `GET /2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}`: Basic auth, then a redirect.
pub async fn twilio_media(
    State(st): State<AppState>,
    Path((account, msg, media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = authenticate(&st, &headers, &account) {
        return e.into_response();
    }
    let media = media.strip_suffix(".json").unwrap_or(&media);
    let path = format!("/{API_VERSION}/Accounts/{account}/Messages/{msg}/Media/{media}");
    redirect_to_cdn(&st, media, &path)
}

/// `GET /admin/media/{ME}`: the same as the Twilio-shaped URL (Basic auth, redirect).
pub async fn admin_media(
    State(st): State<AppState>,
    Path(media): Path<String>,
    headers: HeaderMap,
) -> Response {
    let account = st.account_sid.clone();
    if let Err(e) = authenticate(&st, &headers, &account) {
        return e.into_response();
    }
    redirect_to_cdn(&st, &media, &format!("/admin/media/{media}"))
}

/// `GET /cdn/{token}`: the bytes, no auth; refuses an `Authorization` header.
pub async fn cdn(
    State(st): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/xml")],
            "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
        )
            .into_response();
    }
    let found = st
        .lock()
        .media
        .values()
        .find(|m| m.cdn_token == token)
        .map(|m| (m.content_type.clone(), m.bytes.clone()));
    match found {
        Some((ct, bytes)) => {
            let ct = HeaderValue::from_str(&ct)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "NoSuchKey").into_response(),
    }
}
