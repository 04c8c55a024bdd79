-- Event cursors in commit order without serialising writers.
-- Writers insert events with seq NULL and never wait for each other. Before a read, one sequencer
-- at a time (transaction-scoped advisory lock) numbers the committed, unnumbered events after the
-- highest number already given; its batch becomes visible atomically at its commit, so readers see
-- a gap-free prefix of `seq` and a cursor never skips an event that committed late.
ALTER TABLE events ADD COLUMN seq BIGINT;
UPDATE events SET seq = id;
CREATE UNIQUE INDEX events_seq ON events (seq);
CREATE INDEX events_unsequenced ON events (id) WHERE seq IS NULL;
