-- Work orders (SPEC 7): every ticket event from every device (and the hub's
-- own escalations), and per ticket the fold of its events under the hub's
-- policies, re-computed on every new event. changed = 1 until the merged
-- ticket has been published to its store's down topic.
CREATE TABLE ticket_events (
  device   TEXT NOT NULL,
  epoch    TEXT NOT NULL,
  seq      BIGINT NOT NULL,
  ticket   TEXT NOT NULL,
  store    TEXT NOT NULL,
  kind     TEXT NOT NULL,
  hlc      BIGINT NOT NULL,
  envelope TEXT NOT NULL,
  PRIMARY KEY (device, epoch, seq)
);
CREATE INDEX ticket_events_by_ticket ON ticket_events (ticket);

CREATE TABLE tickets (
  id               TEXT PRIMARY KEY,
  store            TEXT NOT NULL,
  region           TEXT,
  state            TEXT NOT NULL,
  priority         TEXT,
  grp              TEXT,
  opened_ms        BIGINT,
  resolve_due_ms   BIGINT,            -- NULL: no SLA applies
  resolved_ms      BIGINT,            -- first resolve
  escalation_level BIGINT NOT NULL DEFAULT 0,
  esc_next_ms      BIGINT,            -- when the timers look again (NULL: at once)
  doc              TEXT NOT NULL,      -- the merged ticket (JSON)
  changed          BIGINT NOT NULL DEFAULT 0,
  updated_ms       BIGINT NOT NULL
);
CREATE INDEX tickets_by_store ON tickets (store);
CREATE INDEX tickets_due ON tickets (state, esc_next_ms);
CREATE INDEX tickets_changed ON tickets (changed);

-- The hub's own identity for the events it emits (escalations) and the
-- merged-ticket messages it publishes: device "hub", a random epoch fixed
-- on first use, a gapless seq and an HLC.
CREATE TABLE ticket_clock (
  id    BIGINT PRIMARY KEY CHECK (id = 1),
  epoch TEXT NOT NULL,
  seq   BIGINT NOT NULL,
  hlc   BIGINT NOT NULL
);

-- Per store, the newest device hello the ticket timers have answered: a
-- device that (re)connects may have missed merged tickets published while
-- it was away, so the store's live tickets are published again.
CREATE TABLE ticket_resync (
  store   TEXT PRIMARY KEY,
  last_ms BIGINT NOT NULL
);
