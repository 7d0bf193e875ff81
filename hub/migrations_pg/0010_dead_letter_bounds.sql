-- Dead letters are evidence with a bound (issue 16): a row keeps an excerpt
-- of the payload (HUB_DEAD_EXCERPT_BYTES) with the whole payload's size and
-- sha256; a device keeps at most HUB_DEAD_LETTERS_PER_DEVICE rows and the
-- rest are only counted here (device '' for messages on a topic that names
-- no valid device).
ALTER TABLE dead_letters ADD COLUMN payload_bytes BIGINT;
ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT;
UPDATE dead_letters SET payload_bytes = length(payload) WHERE payload IS NOT NULL;
UPDATE dead_letters SET payload = substring(payload FROM 1 FOR 1024) WHERE length(payload) > 1024;

CREATE TABLE dead_letters_dropped (
  device  TEXT PRIMARY KEY,
  count   BIGINT NOT NULL,
  last_ms BIGINT NOT NULL
);
