-- CRM store schema (SQLite). Times are unix milliseconds. Flags are 0/1 integers so the
-- queries are the same on both backends.

CREATE TABLE contacts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name    TEXT,
    created_at      INTEGER NOT NULL,
    last_message_at INTEGER
);

CREATE TABLE contact_identities (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX contact_identities_by_contact ON contact_identities (contact_id);

CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id      INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    provider        TEXT NOT NULL,
    business_number TEXT NOT NULL,
    last_inbound_at INTEGER,
    last_message_at INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (contact_id, provider, business_number)
);

CREATE TABLE raw_webhooks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    provider          TEXT NOT NULL,
    route             TEXT NOT NULL,
    content_type      TEXT NOT NULL,
    body              BLOB NOT NULL,
    idempotency_token TEXT,
    received_at       INTEGER NOT NULL,
    UNIQUE (provider, idempotency_token)
);

-- Provider ids are unique per provider and direction: inbound ids come from the customer's
-- side (Twilio MessageSid, WhatsApp key id + remote JID), outbound ids from the provider once it
-- accepted our message; NULL (not yet sent) never conflicts.
CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id          INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    provider            TEXT NOT NULL,
    business_number     TEXT NOT NULL,
    provider_message_id TEXT,
    kind                TEXT NOT NULL,
    body                TEXT,
    attributes          TEXT NOT NULL,
    status              TEXT NOT NULL,
    status_rank         INTEGER NOT NULL,
    error_code          TEXT,
    provider_timestamp  INTEGER,
    created_at          INTEGER NOT NULL,
    idempotency_key     TEXT UNIQUE,
    request_hash        TEXT,
    raw_webhook_id      INTEGER REFERENCES raw_webhooks(id),
    UNIQUE (provider, direction, provider_message_id)
);
CREATE INDEX messages_timeline ON messages (contact_id, id);

CREATE TABLE media (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256      TEXT NOT NULL UNIQUE,
    mime        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    storage_key TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE message_media (
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    source_url   TEXT NOT NULL,
    content_type TEXT,
    media_sha256 TEXT REFERENCES media(sha256),
    PRIMARY KEY (message_id, idx)
);

-- The primary key is the feed cursor.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    contact_id INTEGER,
    message_id INTEGER,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    run_at       INTEGER NOT NULL,
    locked_until INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    done         INTEGER NOT NULL DEFAULT 0,
    dead         INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE done = 0 AND dead = 0;
CREATE INDEX jobs_dead ON jobs (dead) WHERE dead = 1;
