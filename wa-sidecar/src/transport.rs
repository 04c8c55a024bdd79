//! The WebSocket transport: connects to `WA_WS_URL` the way WhatsApp Web does.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The `Origin` every client sends (fact sheet 1.1; Baileys `websocket.ts`, whatsmeow
/// `framesocket.go`).
pub const ORIGIN: &str = "https://web.whatsapp.com";

/// A connected WebSocket.
pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why the WebSocket could not be opened (the network's or the server's fault).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL was rejected by the WebSocket client.
    #[error("bad WebSocket URL: {0}")]
    Url(String),
    /// TCP, TLS or the HTTP upgrade failed.
    #[error("cannot connect: {0}")]
    Io(String),
    /// No answer in time.
    #[error("connect timed out after {0:?}")]
    Timeout(Duration),
}

/// Opens the WebSocket with the `Origin` and no-cache headers (whatsmeow `NewFrameSocket`).
pub async fn connect(url: &str, timeout: Duration) -> Result<WsStream, ConnectError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Url(e.to_string()))?;
    let headers = request.headers_mut();
    headers.insert("Origin", HeaderValue::from_static(ORIGIN));
    headers.insert("Cache-Control", HeaderValue::from_static("no-cache"));
    headers.insert("Pragma", HeaderValue::from_static("no-cache"));
    // Nagle off (as the `ws` package under Baileys does): with several frames in flight, a small
    // frame would otherwise wait for the server's delayed ACK (~40 ms on Linux).
    let connecting = tokio_tungstenite::connect_async_with_config(request, None, true);
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(ConnectError::Timeout(timeout)),
        Ok(Err(e)) => Err(ConnectError::Io(e.to_string())),
        Ok(Ok((ws, _response))) => Ok(ws),
    }
}

/// Makes rustls use ring for `wss://` (idempotent; needed once per process).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
