//! An unmodified whatsapp-rust `Bot` pointed at the emulator, with its events on a channel.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::sync::mpsc;
use whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse};
use whatsapp_rust::prelude::{Bot, BotHandle, Event, SqliteStore};
use whatsapp_rust::traits::DeviceStore as _;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::wacore::store::Device;

/// The app version announced in the login payload. whatsapp-rust otherwise fetches the current
/// one over HTTP from web.whatsapp.com; the emulator does not check it.
const APP_VERSION: (u32, u32, u32) = (2, 3000, 1_020_000_000);

/// What the test looks at, from whatsapp-rust's `Event`s.
#[derive(Clone, PartialEq, Eq)]
pub enum Seen {
    /// A pairing QR code (`PairingQrCode`).
    Qr(String),
    /// `PairSuccess` with the device JID.
    PairSuccess(String),
    /// `PairError` with its message.
    PairError(String),
    /// `Connected`: logged in, the session is open.
    Connected,
    /// `Disconnected` with its reason.
    Disconnected(String),
    /// `LoggedOut` with its reason.
    LoggedOut(String),
    /// `ConnectFailure` with its reason.
    ConnectFailure(String),
    /// Any other event, by kind.
    Other(String),
}

/// The QR code carries the companion's ADV secret: only its ref is ever printed.
impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Qr(code) => {
                let reference = code.split(',').next().unwrap_or_default();
                write!(f, "Qr({reference},<keys redacted>)")
            }
            Seen::PairSuccess(jid) => write!(f, "PairSuccess({jid})"),
            Seen::PairError(e) => write!(f, "PairError({e})"),
            Seen::Connected => write!(f, "Connected"),
            Seen::Disconnected(r) => write!(f, "Disconnected({r})"),
            Seen::LoggedOut(r) => write!(f, "LoggedOut({r})"),
            Seen::ConnectFailure(r) => write!(f, "ConnectFailure({r})"),
            Seen::Other(kind) => write!(f, "{kind}"),
        }
    }
}

impl Seen {
    fn from_event(event: &Event) -> Self {
        match event {
            Event::PairingQrCode(qr) => Seen::Qr(qr.code.clone()),
            Event::PairSuccess(ok) => Seen::PairSuccess(ok.id.to_string()),
            Event::PairError(err) => Seen::PairError(err.error.clone()),
            Event::Connected(_) => Seen::Connected,
            Event::Disconnected(d) => Seen::Disconnected(format!("{:?}", d.reason)),
            Event::LoggedOut(out) => Seen::LoggedOut(format!("{:?}", out.reason)),
            Event::ConnectFailure(f) => Seen::ConnectFailure(format!("{:?}", f.reason)),
            // `Event`'s Debug prints the variant name only.
            other => Seen::Other(format!("{other:?}")),
        }
    }
}

/// Refuses every HTTP request: nothing in these tests may leave the machine (media and the
/// version fetch are the only HTTP users, and the version is fixed with `with_version`).
struct NoHttp;

#[whatsapp_rust::async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        bail!(
            "HTTP is not available in this test (asked for {})",
            request.url
        )
    }
}

/// A running whatsapp-rust client and everything it reported so far.
pub struct Session {
    handle: BotHandle,
    events: mpsc::UnboundedReceiver<Seen>,
    /// Every event received through [`Session::expect`], in order.
    pub seen: Vec<Seen>,
}

impl Session {
    /// Builds and starts a bot on the SQLite file `db` (created if absent) against `ws_url`.
    pub async fn start(ws_url: &str, db: &Path) -> anyhow::Result<Self> {
        let db = db.to_str().context("database path is not UTF-8")?;
        let store = SqliteStore::new(db)
            .await
            .map_err(|e| anyhow::anyhow!("opening the SQLite store {db}: {e}"))?;
        let (tx, events) = mpsc::unbounded_channel();
        let bot = Bot::builder()
            .with_backend(store)
            .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(ws_url))
            .with_http_client(NoHttp)
            .with_version(APP_VERSION)
            .skip_history_sync()
            .on_event(move |event: Arc<Event>, _client| {
                let _ = tx.send(Seen::from_event(&event));
                async {}
            })
            .build()
            .await
            .map_err(|e| anyhow::anyhow!("building the bot: {e}"))?;
        Ok(Self {
            handle: bot.spawn(),
            events,
            seen: Vec::new(),
        })
    }

    /// Waits up to `deadline` for an event `pick` accepts and returns what it extracted.
    pub async fn expect<T>(
        &mut self,
        what: &str,
        deadline: Duration,
        mut pick: impl FnMut(&Seen) -> Option<T>,
    ) -> anyhow::Result<T> {
        let wait = async {
            while let Some(seen) = self.events.recv().await {
                log::info!("whatsapp-rust event: {seen:?}");
                let picked = pick(&seen);
                self.seen.push(seen);
                if let Some(value) = picked {
                    return Some(value);
                }
            }
            None
        };
        match tokio::time::timeout(deadline, wait).await {
            Ok(Some(value)) => Ok(value),
            Ok(None) => bail!("the bot stopped before {what}; events: {:?}", self.seen),
            Err(_) => bail!("no {what} within {deadline:?}; events: {:?}", self.seen),
        }
    }

    /// Waits up to `deadline` until the server accepted the login (`<success>`: whatsapp-rust's
    /// `Client::is_logged_in`). Unlike the `Connected` event this does not wait for the initial
    /// app-state sync (and whatsapp-rust's 10 s grace for the app-state key share before it).
    pub async fn wait_logged_in(&mut self, what: &str, deadline: Duration) -> anyhow::Result<()> {
        let client = self.handle.client();
        let wait = async {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            while !client.is_logged_in() {
                tick.tick().await;
            }
        };
        if tokio::time::timeout(deadline, wait).await.is_err() {
            self.drain();
            bail!(
                "not logged in ({what}) within {deadline:?}; events: {:?}",
                self.seen
            );
        }
        self.drain();
        Ok(())
    }

    /// Moves the events received so far into [`Session::seen`].
    pub fn drain(&mut self) {
        while let Ok(seen) = self.events.try_recv() {
            log::info!("whatsapp-rust event: {seen:?}");
            self.seen.push(seen);
        }
    }

    /// Stops the bot gracefully (flushes its store) and waits for it.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

/// Opens the store `db` (not in use by a running bot) and loads its device.
async fn load_device(db: &Path) -> anyhow::Result<(SqliteStore, Option<Device>)> {
    let db = db.to_str().context("database path is not UTF-8")?;
    let store = SqliteStore::new(db)
        .await
        .map_err(|e| anyhow::anyhow!("opening the SQLite store {db}: {e}"))?;
    let device = store
        .load()
        .await
        .map_err(|e| anyhow::anyhow!("loading the device: {e}"))?;
    Ok((store, device))
}

/// The server static key whatsapp-rust cached in the store `db` (the leaf key of its cached
/// certificate chain, with which it resumes Noise IK), if any.
pub async fn cached_server_key(db: &Path) -> anyhow::Result<Option<[u8; 32]>> {
    let (_, device) = load_device(db).await?;
    Ok(device.and_then(|d| d.server_cert_chain.map(|c| c.leaf.key)))
}

/// Replaces the cached server static key in the store `db` by `key` (as if the server had
/// rotated its key since); returns the key it replaced.
pub async fn replace_cached_server_key(db: &Path, key: [u8; 32]) -> anyhow::Result<[u8; 32]> {
    let (store, device) = load_device(db).await?;
    let mut device = device.context("no device in the store")?;
    let chain = device
        .server_cert_chain
        .as_mut()
        .context("no cached server certificate chain")?;
    let previous = std::mem::replace(&mut chain.leaf.key, key);
    store
        .save(&device)
        .await
        .map_err(|e| anyhow::anyhow!("saving the device: {e}"))?;
    Ok(previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_qr_keys() {
        let qr = Seen::Qr("2@ref,bm9pc2U=,aWRlbnRpdHk=,c2VjcmV0,1".into());
        let shown = format!("{qr:?}");
        assert_eq!(shown, "Qr(2@ref,<keys redacted>)");
        assert!(!shown.contains("c2VjcmV0"));
    }
}
