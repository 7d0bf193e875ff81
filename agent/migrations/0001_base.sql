-- Agent base schema: identity, durable outbox, policy cache, sync state.
-- meta: key/value facts fixed or advanced by the agent (epoch, last_seq, hlc).
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- The outbox: one row per event envelope not yet acknowledged by the hub.
-- Rows are written in the same transaction as the business record and
-- deleted only when the hub's ack covers their seq.
CREATE TABLE outbox (
  seq        INTEGER PRIMARY KEY,      -- gapless per (device, epoch)
  type       TEXT NOT NULL,
  hlc        INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  envelope   TEXT NOT NULL             -- the exact JSON sent
);

-- Accepted policy versions per scope (global, region/R, store/S).
CREATE TABLE policies (
  scope        TEXT NOT NULL,
  version      INTEGER NOT NULL,
  issued_at    TEXT,
  issued_ms    INTEGER,
  effective_ms INTEGER,                -- NULL: effective on receipt
  expires_ms   INTEGER,                -- NULL: never expires
  doc          TEXT NOT NULL,          -- the policy document (JSON)
  envelope     TEXT,                   -- the signed envelope as received; NULL for local imports
  source       TEXT NOT NULL,          -- 'hub' or 'import'
  received_ms  INTEGER NOT NULL,
  PRIMARY KEY (scope, version)
);

-- Every refused policy envelope, for status and troubleshooting.
CREATE TABLE policy_rejections (
  id      INTEGER PRIMARY KEY,
  at_ms   INTEGER NOT NULL,
  scope   TEXT,
  version INTEGER,
  reason  TEXT NOT NULL
);

-- Sync state written by the daemon, read by `status` (one row).
CREATE TABLE sync_state (
  id            INTEGER PRIMARY KEY CHECK (id = 1),
  connected     INTEGER NOT NULL DEFAULT 0,
  daemon_pid    INTEGER,
  updated_ms    INTEGER,
  last_ack_ms   INTEGER,
  acked_upto    INTEGER NOT NULL DEFAULT 0,
  last_connect_ms INTEGER
);
INSERT INTO sync_state (id) VALUES (1);
