//! The accept loop. Each connection gets a [`ConnKill`] so a handler can close it without an
//! answer (the `drop_after_create` fault): the connection future is dropped, which closes the
//! socket.

use std::sync::Arc;

use axum::Router;
use axum::extract::Extension;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::rest::ConnKill;

/// Serves `app` on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, app: Router) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let kill = Arc::new(Notify::new());
        let svc = TowerToHyperService::new(app.clone().layer(Extension(ConnKill(kill.clone()))));
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = kill.notified() => {
                    tracing::debug!("connection dropped on purpose (fault injection)");
                }
            }
        });
    }
}
