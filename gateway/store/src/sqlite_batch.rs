//! Group commit for inbound webhooks on SQLite.
//!
//! SQLite has one writer and, with `synchronous = FULL`, one fsync per commit; one transaction
//! per webhook therefore caps the webhook rate at the disk's fsync rate and makes bursts queue.
//! Here one task takes every inbound message waiting (up to [`MAX_GROUP`]), writes each inside
//! its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction (a duplicate rolls back only its own
//! savepoint), commits once, and only then answers each caller. Every answer still means "on
//! disk": nothing is acknowledged before the group's commit, and a failed commit fails them all
//! (the providers retry).

use sqlx::Acquire;
use tokio::sync::{mpsc, oneshot};

use super::SqliteStore;
use super::common::inbound;
use crate::error::map_sqlx;
use crate::{InboundOutcome, NewInboundMessage, StoreError, StoreResult};

/// Most messages committed together.
const MAX_GROUP: usize = 128;
/// Messages waiting for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<StoreResult<InboundOutcome>>;

/// Hands inbound messages to the group-commit task.
#[derive(Debug, Clone)]
pub(super) struct GroupCommitter {
    tx: mpsc::Sender<(NewInboundMessage, Reply)>,
}

impl GroupCommitter {
    /// Starts the task writing through `store` (which must not itself have a committer).
    pub(super) fn start(store: SqliteStore) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Stores `msg` in the next group commit.
    pub(super) async fn record(&self, msg: &NewInboundMessage) -> StoreResult<InboundOutcome> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.tx
            .send((msg.clone(), reply))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(store: SqliteStore, mut rx: mpsc::Receiver<(NewInboundMessage, Reply)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        match commit_group(&store, &group).await {
            Ok(outcomes) => {
                for ((_, reply), outcome) in group.drain(..).zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, messages = group.len(), "group commit failed");
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(StoreError::Unavailable(format!(
                        "commit failed: {err}"
                    ))));
                }
            }
        }
    }
}

/// One transaction for the whole group; per-message outcomes, or the error that sank all.
async fn commit_group(
    store: &SqliteStore,
    group: &[(NewInboundMessage, Reply)],
) -> Result<Vec<StoreResult<InboundOutcome>>, StoreError> {
    let mut tx = store.begin().await.map_err(map_sqlx)?;
    let mut outcomes = Vec::with_capacity(group.len());
    for (msg, _) in group {
        let mut savepoint = tx.begin().await.map_err(map_sqlx)?;
        match inbound::write(&mut savepoint, msg).await {
            Ok(stored @ InboundOutcome::Stored { .. }) => {
                savepoint.commit().await.map_err(map_sqlx)?;
                outcomes.push(Ok(stored));
            }
            Ok(InboundOutcome::Duplicate) => {
                savepoint.rollback().await.map_err(map_sqlx)?;
                outcomes.push(Ok(InboundOutcome::Duplicate));
            }
            Err(fail) => {
                savepoint.rollback().await.map_err(map_sqlx)?;
                outcomes.push(Err(fail.into()));
            }
        }
    }
    tx.commit().await.map_err(map_sqlx)?;
    Ok(outcomes)
}
