-- HQ policy lifecycle, staged rollouts, users and audit (SPEC 14), and the
-- indexes the dashboard's reports need over millions of sales.

-- Who published each version (a configured user name; "cli" for
-- `shoal-hub publish`). published_at is published_ms, already recorded.
-- rollout: the rollout id whose stage or end published the version.
ALTER TABLE policies ADD COLUMN published_by TEXT;
ALTER TABLE policies ADD COLUMN rollout TEXT;

-- Every write over HTTP, accepted or refused (SPEC 14).
CREATE TABLE audit (
  id     INTEGER PRIMARY KEY,
  at_ms  INTEGER NOT NULL,
  user   TEXT,                       -- NULL: no valid token
  action TEXT NOT NULL,              -- e.g. policy.publish, rollout.abort
  target TEXT,                       -- scope, rollout id, ...
  result TEXT NOT NULL               -- "ok", or the status and why it was refused
);
CREATE INDEX audit_by_time ON audit (at_ms);

-- Staged rollouts (SPEC 14, docs/protocol.md "Staged rollout").
-- stages: the JSON array as given; stage: 1-based current stage;
-- state: running | paused | done | aborted. stage_versions: JSON array, the
-- policy version published for each stage reached. stable_version: the
-- scope's version in effect when the rollout began (0: none).
CREATE TABLE rollouts (
  id              TEXT PRIMARY KEY,
  scope           TEXT NOT NULL,
  doc             TEXT NOT NULL,
  stable_version  INTEGER NOT NULL,
  stages          TEXT NOT NULL,
  min_applied     REAL,              -- gate; NULL: no gate (manual advance)
  wait_s          INTEGER,
  stage           INTEGER NOT NULL,
  state           TEXT NOT NULL,
  stage_versions  TEXT NOT NULL,
  stage_since_ms  INTEGER NOT NULL,
  final_version   INTEGER,           -- done/aborted: the version that ended it
  created_ms      INTEGER NOT NULL,
  created_by      TEXT,
  updated_ms      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rollouts_by_state ON rollouts (state);
CREATE INDEX rollouts_by_scope ON rollouts (scope, state);

-- The seq of each device's last hello: with the stream's ack watermark it
-- gives the live outbox estimate of the fleet view.
ALTER TABLE devices ADD COLUMN hello_seq INTEGER;

-- Reports over a million sales: covering indexes for the by= groupings.
CREATE INDEX sales_by_time_cover ON sales (at_ms, store, region, device, total);
