-- Hub base schema: device registry, exactly-once ingest, sales, dead
-- letters and published policies.

-- One row per device ever seen; updated by hello, presence and events.
CREATE TABLE devices (
  device         TEXT PRIMARY KEY,
  store          TEXT NOT NULL,
  region         TEXT,
  profile        TEXT,
  agent_version  TEXT,
  epoch          TEXT,
  online         INTEGER NOT NULL DEFAULT 0,
  last_hello_ms  INTEGER,
  last_seen_ms   INTEGER,            -- any message or presence change
  last_event_ms  INTEGER,            -- last event stored
  outbox_depth   INTEGER,            -- as reported in hello
  policy_versions TEXT               -- JSON {scope: version} from hello
) WITHOUT ROWID;

-- Per (device, epoch): the ack watermark. upto = highest seq such that
-- every seq <= upto is stored (SPEC 4.2).
CREATE TABLE streams (
  device TEXT NOT NULL,
  epoch  TEXT NOT NULL,
  upto   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (device, epoch)
) WITHOUT ROWID;

-- Every stored event identity: the exactly-once record.
CREATE TABLE events (
  device      TEXT NOT NULL,
  epoch       TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  store       TEXT NOT NULL,
  type        TEXT NOT NULL,
  hlc         INTEGER NOT NULL,
  received_ms INTEGER NOT NULL,
  PRIMARY KEY (device, epoch, seq)
) WITHOUT ROWID;

-- Sales as rows to report on; one per sale event.
CREATE TABLE sales (
  device    TEXT NOT NULL,
  epoch     TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  store     TEXT NOT NULL,
  region    TEXT,
  receipt   TEXT,
  at_ms     INTEGER NOT NULL,         -- sale time (basket "at")
  subtotal  INTEGER NOT NULL,
  discount  INTEGER NOT NULL,
  rounding  INTEGER NOT NULL,
  total     INTEGER NOT NULL,
  body      TEXT NOT NULL,            -- the sale body as sent
  PRIMARY KEY (device, epoch, seq)
) WITHOUT ROWID;
CREATE INDEX sales_by_time ON sales (at_ms);
CREATE INDEX sales_by_store ON sales (store, at_ms);

-- Events the hub could not accept, with why; acknowledged all the same.
CREATE TABLE dead_letters (
  id          INTEGER PRIMARY KEY,
  received_ms INTEGER NOT NULL,
  topic       TEXT NOT NULL,
  device      TEXT,
  store       TEXT,
  epoch       TEXT,
  seq         INTEGER,
  reason      TEXT NOT NULL,
  payload     BLOB
);

-- Every policy version published, per scope.
CREATE TABLE policies (
  scope        TEXT NOT NULL,
  version      INTEGER NOT NULL,
  issued_at    TEXT NOT NULL,
  effective_at TEXT,
  expires_at   TEXT,
  doc          TEXT NOT NULL,
  envelope     TEXT NOT NULL,
  published_ms INTEGER NOT NULL,
  PRIMARY KEY (scope, version)
);
