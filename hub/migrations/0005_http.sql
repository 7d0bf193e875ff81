-- Webhook delivery (SPEC 10): a durable queue written inside the ingest
-- transaction that produced the event, a dead list for deliveries that
-- exhausted their attempts, and counters for /metrics.

-- One row per (webhook url, event) still to deliver. next_ms is when the
-- worker may try it next (backoff); rows leave on a 2xx or to webhook_dead.
CREATE TABLE webhook_queue (
  id          INTEGER PRIMARY KEY,
  url         TEXT NOT NULL,
  kind        TEXT NOT NULL,            -- sale, ticket, escalation
  body        TEXT NOT NULL,            -- JSON posted as is (and signed)
  created_ms  INTEGER NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  next_ms     INTEGER NOT NULL,
  last_error  TEXT
);
CREATE INDEX webhook_queue_due ON webhook_queue (next_ms);
CREATE INDEX webhook_queue_by_url ON webhook_queue (url, id);

-- Deliveries given up on after the bound of attempts, with the last error.
CREATE TABLE webhook_dead (
  id          INTEGER PRIMARY KEY,
  url         TEXT NOT NULL,
  kind        TEXT NOT NULL,
  body        TEXT NOT NULL,
  created_ms  INTEGER NOT NULL,
  attempts    INTEGER NOT NULL,
  failed_ms   INTEGER NOT NULL,
  last_error  TEXT
);

-- Monotonic counters (Prometheus counters survive restarts this way).
CREATE TABLE hub_counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;

-- Ingest rate for /metrics: events stored in the last minute.
CREATE INDEX events_by_received ON events (received_ms);

-- Running totals for /metrics, kept by triggers inside the writer's own
-- transaction so a scrape never counts a table of millions of events.
INSERT INTO hub_counters (name, value)
  SELECT 'events_total:' || type, COUNT(*) FROM events GROUP BY type;
INSERT INTO hub_counters (name, value) SELECT 'sales_total', COUNT(*) FROM sales;
CREATE TRIGGER events_count_ins AFTER INSERT ON events BEGIN
  INSERT INTO hub_counters (name, value) VALUES ('events_total:' || NEW.type, 1)
    ON CONFLICT (name) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER events_count_del AFTER DELETE ON events BEGIN
  UPDATE hub_counters SET value = value - 1 WHERE name = 'events_total:' || OLD.type;
END;
CREATE TRIGGER sales_count_ins AFTER INSERT ON sales BEGIN
  INSERT INTO hub_counters (name, value) VALUES ('sales_total', 1)
    ON CONFLICT (name) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER sales_count_del AFTER DELETE ON sales BEGIN
  UPDATE hub_counters SET value = value - 1 WHERE name = 'sales_total';
END;
