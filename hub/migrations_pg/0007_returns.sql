-- Returns (SPEC 12) as rows to report on; one per "return" event, stored in
-- the same transaction as its identity in events (exactly once). A return
-- counts in the period of its own time; "channel" is the sale's.
CREATE TABLE returns (
  device    TEXT NOT NULL,
  epoch     TEXT NOT NULL,
  seq       BIGINT NOT NULL,
  store     TEXT NOT NULL,
  region    TEXT,
  id        TEXT NOT NULL,            -- the device's return id
  sale      TEXT NOT NULL,            -- receipt of the sale it returns
  channel   TEXT NOT NULL,
  at_ms     BIGINT NOT NULL,
  refund    BIGINT NOT NULL,
  body      TEXT NOT NULL,            -- the return body as sent
  PRIMARY KEY (device, epoch, seq)
);
CREATE INDEX returns_by_time ON returns (at_ms);
CREATE INDEX returns_by_sale ON returns (device, sale);
CREATE INDEX sales_by_receipt ON sales (device, receipt);

-- SQLite's json_extract for the text lookups hub code shares between the
-- dialects (a key path like '$.customer.id'; the value as text, NULL when
-- absent). Numbers and arrays are read with jsonb operators (hub_reports.c).
CREATE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS TEXT AS $$
  SELECT (doc::jsonb) #>> string_to_array(substr(path, 3), '.')
$$ LANGUAGE sql IMMUTABLE;
