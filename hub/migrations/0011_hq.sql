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

-- Daily rollup of sales per (UTC day, store, region), kept by a trigger in
-- the same transaction as each sale: region and store reports over long
-- periods read whole days from here and only the partial days at the edges
-- from sales (hub_reports_sales). region '' stands for NULL.
CREATE TABLE sales_daily (
  day_ms INTEGER NOT NULL,
  store  TEXT NOT NULL,
  region TEXT NOT NULL,
  count  INTEGER NOT NULL,
  total  INTEGER NOT NULL,
  PRIMARY KEY (day_ms, store, region)
) WITHOUT ROWID;
INSERT INTO sales_daily (day_ms, store, region, count, total)
  SELECT (at_ms / 86400000) * 86400000 - (CASE WHEN at_ms < 0 AND at_ms % 86400000 <> 0 THEN 86400000 ELSE 0 END),
         store, COALESCE(region, ''), COUNT(*), SUM(total)
  FROM sales GROUP BY 1, 2, 3;
CREATE TRIGGER sales_daily_add AFTER INSERT ON sales BEGIN
  INSERT INTO sales_daily (day_ms, store, region, count, total)
  VALUES ((NEW.at_ms / 86400000) * 86400000 - (CASE WHEN NEW.at_ms < 0 AND NEW.at_ms % 86400000 <> 0 THEN 86400000 ELSE 0 END),
          NEW.store, COALESCE(NEW.region, ''), 1, NEW.total)
  ON CONFLICT (day_ms, store, region) DO UPDATE SET count = count + 1, total = total + excluded.total;
END;
CREATE TRIGGER sales_daily_del AFTER DELETE ON sales BEGIN
  UPDATE sales_daily SET count = count - 1, total = total - OLD.total
  WHERE day_ms = (OLD.at_ms / 86400000) * 86400000 - (CASE WHEN OLD.at_ms < 0 AND OLD.at_ms % 86400000 <> 0 THEN 86400000 ELSE 0 END)
    AND store = OLD.store AND region = COALESCE(OLD.region, '');
END;
