-- Checkout (SPEC 11, 12): receipts, returns, idempotency keys and the
-- compiled-model snapshot a one-shot `price -c` reads instead of parsing
-- the whole catalog.

-- The SPEC 12 receipt as first returned (replays and GET /v1/sales/{id}).
ALTER TABLE sales ADD COLUMN receipt_json TEXT;

-- Idempotency: a till's request_id for one sale or return. The same key
-- with the same body (sha256 of its canonical JSON) answers the first
-- result; another body is a conflict. Kept at least 7 days.
CREATE TABLE requests (
  key        TEXT PRIMARY KEY,
  kind       TEXT NOT NULL,              -- 'sale' or 'return'
  body_hash  TEXT NOT NULL,
  result     TEXT NOT NULL,              -- the JSON answered the first time
  created_ms INTEGER NOT NULL
);
CREATE INDEX requests_created ON requests (created_ms);

-- Returns: numbered like receipts, from their own counter advanced in the
-- return's transaction (with its lines and its "return" outbox row).
CREATE TABLE return_counter (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  last INTEGER NOT NULL
);
INSERT INTO return_counter (id, last) VALUES (1, 0);

CREATE TABLE returns (
  id         TEXT PRIMARY KEY,           -- "<device>-<YYYYMMDD>-R<n>"
  n          INTEGER NOT NULL UNIQUE,
  sale       TEXT NOT NULL REFERENCES sales (receipt),
  at         TEXT NOT NULL,
  at_ms      INTEGER NOT NULL,
  refund     INTEGER NOT NULL,
  outbox_seq INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  body       TEXT NOT NULL               -- the output object (lines, refunds)
);
CREATE INDEX returns_sale ON returns (sale);

CREATE TABLE return_lines (
  return_id TEXT NOT NULL REFERENCES returns (id),
  sku       TEXT NOT NULL,
  qty       INTEGER NOT NULL,
  refund    INTEGER NOT NULL,
  PRIMARY KEY (return_id, sku)
) WITHOUT ROWID;

-- Compiled-model snapshot for one set of versions in effect (key =
-- "g:v|r:v|s:v"): each scope's document without its items, and the items
-- one row per (sku, scope), so one basket loads only its own SKUs.
CREATE TABLE model_snapshot (
  scope_idx INTEGER PRIMARY KEY,         -- 0 global, 1 region, 2 store
  key       TEXT NOT NULL,
  doc       TEXT                         -- NULL: no document for this scope
);
CREATE TABLE model_snapshot_items (
  sku       TEXT NOT NULL,
  scope_idx INTEGER NOT NULL,
  item      TEXT NOT NULL,
  PRIMARY KEY (sku, scope_idx)
) WITHOUT ROWID;
