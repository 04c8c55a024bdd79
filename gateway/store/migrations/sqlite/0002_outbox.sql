-- The outbound outbox: one row per outbound message to deliver, written in the same
-- transaction as the message (before any provider is called). A worker leases due rows;
-- `in_flight` names the provider of an attempt whose outcome is not known yet (the worker
-- crashed or the call timed out after the request went out): the next attempt looks the
-- message up at that provider before sending again.
CREATE TABLE outbox (
    message_id   INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    run_at       INTEGER NOT NULL,
    locked_until INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    in_flight    TEXT,
    last_error   TEXT,
    done         INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (run_at, message_id) WHERE done = 0;
