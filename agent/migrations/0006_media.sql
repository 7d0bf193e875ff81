-- Photos (SPEC 15): the device's content-addressed media store. One row per
-- file held in "{db}.media/{sha256}"; seq is the outbox seq of the first
-- recorded submission naming it (NULL until one is recorded). The uploader
-- PUTs a file once the hub has acknowledged that seq (so the hub knows the
-- hash), retries with backoff (next_try_ms), and deletes the local copy
-- when the hub holds it (uploaded_ms).
CREATE TABLE media (
  sha256      TEXT PRIMARY KEY,
  bytes       INTEGER NOT NULL,
  type        TEXT NOT NULL,
  added_ms    INTEGER NOT NULL,
  seq         INTEGER,
  uploaded_ms INTEGER,
  attempts    INTEGER NOT NULL DEFAULT 0,
  next_try_ms INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT
) WITHOUT ROWID;
CREATE INDEX media_pending ON media (uploaded_ms, seq);
