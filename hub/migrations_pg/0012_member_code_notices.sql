-- Member codes a till sale has used, to announce on the down topic of the
-- sale's store (SPEC 13): the store's other devices then refuse the code,
-- so a code redeems once wherever a device can know of its first use. A
-- row leaves once published; an unpublished one (broker down) is retried
-- after the next ingest commit or at the hub's periodic tick.
CREATE TABLE member_code_notices (
  nonce      TEXT NOT NULL,
  store      TEXT NOT NULL,
  customer   TEXT NOT NULL,
  expires_ms BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (nonce, store)
);
