-- Returns (SPEC 12) as rows to report on; one per "return" event, stored in
-- the same transaction as its identity in events (exactly once). A return
-- counts in the period of its own time; "channel" is the sale's.
CREATE TABLE returns (
  device    TEXT NOT NULL,
  epoch     TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  store     TEXT NOT NULL,
  region    TEXT,
  id        TEXT NOT NULL,            -- the device's return id
  sale      TEXT NOT NULL,            -- receipt of the sale it returns
  channel   TEXT NOT NULL,
  at_ms     INTEGER NOT NULL,
  refund    INTEGER NOT NULL,
  body      TEXT NOT NULL,            -- the return body as sent
  PRIMARY KEY (device, epoch, seq)
) WITHOUT ROWID;
CREATE INDEX returns_by_time ON returns (at_ms);
CREATE INDEX returns_by_sale ON returns (device, sale);
CREATE INDEX sales_by_receipt ON sales (device, receipt);
