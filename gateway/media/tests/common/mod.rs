//! Test peers: a fake Twilio media host (requires Basic auth, redirects to a CDN) and a fake CDN
//! that records any Authorization header it sees.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Response, StatusCode, header};
use axum::routing::get;

pub const USER: &str = "AC0123456789abcdef";
pub const PASSWORD: &str = "auth-token-secret";
pub const JPEG: &[u8] = b"\xff\xd8\xff\xe0 pretend this is a jpeg";
pub const PDF: &[u8] = b"%PDF-1.4 pretend document";

/// Running fake servers.
pub struct Peers {
    pub twilio: SocketAddr,
    pub cdn: SocketAddr,
    /// Requests to the CDN that carried an Authorization header (must stay 0).
    pub cdn_auth_seen: Arc<AtomicUsize>,
    /// Requests the CDN served.
    pub cdn_hits: Arc<AtomicUsize>,
}

impl Peers {
    pub fn twilio_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.twilio)
    }
    pub fn cdn_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.cdn)
    }
    /// Credentials for the Twilio host only (host and port, since both peers are on 127.0.0.1).
    pub fn auth(&self) -> media_store::ProviderAuth {
        media_store::ProviderAuth {
            username: USER.into(),
            password: PASSWORD.into(),
            hosts: vec![self.twilio.to_string()],
        }
    }
}

#[derive(Clone)]
struct CdnState {
    auth_seen: Arc<AtomicUsize>,
    hits: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct TwilioState {
    cdn: SocketAddr,
}

fn basic_ok(headers: &HeaderMap) -> bool {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

async fn twilio_media(
    State(st): State<TwilioState>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response<Body> {
    if !basic_ok(&headers) {
        return status(StatusCode::UNAUTHORIZED);
    }
    match name.as_str() {
        "missing" => status(StatusCode::NOT_FOUND),
        "unavailable" => status(StatusCode::SERVICE_UNAVAILABLE),
        "busy" => status(StatusCode::TOO_MANY_REQUESTS),
        "loop" => redirect("/2010-04-01/Media/loop".into()),
        _ => redirect(format!("http://{}/cdn/{name}", st.cdn)),
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

fn redirect(location: String) -> Response<Body> {
    let mut r = status(StatusCode::TEMPORARY_REDIRECT);
    if let Ok(v) = location.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

async fn cdn_file(
    State(st): State<CdnState>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response<Body> {
    st.hits.fetch_add(1, Ordering::SeqCst);
    if headers.contains_key(header::AUTHORIZATION) {
        st.auth_seen.fetch_add(1, Ordering::SeqCst);
        return status(StatusCode::BAD_REQUEST);
    }
    let typed = |ct: &str, body: Body| {
        let mut r = Response::new(body);
        if let Ok(v) = ct.parse() {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    match name.as_str() {
        "photo.jpg" => typed("image/jpeg", Body::from(JPEG)),
        "photo-copy.jpg" => typed("image/jpeg; charset=binary", Body::from(JPEG)),
        // No Content-Type: the caller's announced type applies.
        "untyped" => Response::new(Body::from(PDF)),
        // 2000 bytes with a Content-Length.
        "big.jpg" => typed("image/jpeg", Body::from(vec![7u8; 2000])),
        // 2000 bytes, chunked, no Content-Length: only the running count can stop it.
        "big-stream.jpg" => {
            let chunks =
                (0..20).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![9u8; 100])));
            typed(
                "image/jpeg",
                Body::from_stream(futures_util::stream::iter(chunks)),
            )
        }
        // 2000 bytes of PDF: fine under the document limit.
        "big.pdf" => typed("application/pdf", Body::from(vec![5u8; 2000])),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            typed("image/jpeg", Body::from(JPEG))
        }
        _ => status(StatusCode::NOT_FOUND),
    }
}

async fn serve(listener: tokio::net::TcpListener, app: Router) {
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("test server stopped: {e}");
    }
}

/// Start the CDN and the Twilio media host on 127.0.0.1:0.
pub async fn start_peers() -> Peers {
    let cdn_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cdn = cdn_listener.local_addr().unwrap();
    let cdn_state = CdnState {
        auth_seen: Arc::default(),
        hits: Arc::default(),
    };
    let peers_auth_seen = cdn_state.auth_seen.clone();
    let peers_hits = cdn_state.hits.clone();
    let cdn_app = Router::new()
        .route("/cdn/{name}", get(cdn_file))
        .with_state(cdn_state);
    tokio::spawn(serve(cdn_listener, cdn_app));

    let tw_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let twilio = tw_listener.local_addr().unwrap();
    let tw_app = Router::new()
        .route("/2010-04-01/Media/{name}", get(twilio_media))
        .with_state(TwilioState { cdn });
    tokio::spawn(serve(tw_listener, tw_app));

    Peers {
        twilio,
        cdn,
        cdn_auth_seen: peers_auth_seen,
        cdn_hits: peers_hits,
    }
}

/// Regular files under `root`, recursively (the staging folder included, so leftovers show).
pub fn files_under(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
