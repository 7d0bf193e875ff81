-- Sales recorded by `shoal-agent sale` (SPEC 2, 4.2). A sale, its lines and
-- its outbox row are written in one transaction. Receipt numbers come from a
-- per-device counter advanced in that same transaction: never reused.
CREATE TABLE sale_counter (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  last INTEGER NOT NULL
);
INSERT INTO sale_counter (id, last) VALUES (1, 0);

CREATE TABLE sales (
  receipt     TEXT PRIMARY KEY,          -- "<device>-<YYYYMMDD>-<n>"
  n           INTEGER NOT NULL UNIQUE,   -- the counter value in the receipt
  at          TEXT NOT NULL,             -- the basket's "at" as given
  at_ms       INTEGER NOT NULL,
  region      TEXT NOT NULL,
  store       TEXT NOT NULL,
  currency    TEXT NOT NULL,
  subtotal    INTEGER NOT NULL,
  discount    INTEGER NOT NULL,
  rounding    INTEGER NOT NULL,
  total       INTEGER NOT NULL,
  customer_id TEXT,
  outbox_seq  INTEGER NOT NULL,          -- seq of its "sale" event
  created_ms  INTEGER NOT NULL,
  body        TEXT NOT NULL              -- the sale event body (lines, applied, versions)
);

CREATE TABLE sale_lines (
  receipt    TEXT NOT NULL REFERENCES sales (receipt),
  line_no    INTEGER NOT NULL,
  sku        TEXT NOT NULL,
  qty        INTEGER NOT NULL,
  base_price INTEGER NOT NULL,
  unit_price INTEGER NOT NULL,
  discount   INTEGER NOT NULL,
  total      INTEGER NOT NULL,
  PRIMARY KEY (receipt, line_no)
) WITHOUT ROWID;
