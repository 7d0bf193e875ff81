-- Work orders (SPEC 7). ticket_events holds every ticket event this device
-- knows (its own, and those the hub sent), one row per identity; tickets
-- holds the fold of each ticket's events, rewritten whenever they change.
CREATE TABLE ticket_events (
  device   TEXT NOT NULL,
  epoch    TEXT NOT NULL,
  seq      INTEGER NOT NULL,
  ticket   TEXT NOT NULL,
  kind     TEXT NOT NULL,
  hlc      INTEGER NOT NULL,
  envelope TEXT NOT NULL,             -- the event envelope (JSON)
  source   TEXT NOT NULL,             -- 'local' or 'hub'
  PRIMARY KEY (device, epoch, seq)
) WITHOUT ROWID;
CREATE INDEX ticket_events_by_ticket ON ticket_events (ticket);

CREATE TABLE tickets (
  id         TEXT PRIMARY KEY,
  store      TEXT,
  state      TEXT NOT NULL,
  priority   TEXT,
  grp        TEXT,
  opened_ms  INTEGER,
  updated_ms INTEGER NOT NULL,
  doc        TEXT NOT NULL              -- the folded ticket (JSON)
) WITHOUT ROWID;
