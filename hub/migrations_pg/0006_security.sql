-- Security (issue 8): devices holding a client certificate from the hub's
-- device CA, and the signed trust updates HQ has issued (key rotation).

-- One row per device provisioned with `shoal-hub provision`. The broker ACL
-- (`shoal-hub broker-config`) is generated from this table: certificates
-- carry only the device id (CN), so the store a device may write for lives
-- here. A revoked device keeps its row (and its id) but gets no ACL entry.
CREATE TABLE provisioned_devices (
  device      TEXT PRIMARY KEY,
  store       TEXT NOT NULL,
  region      TEXT NOT NULL,
  profile     TEXT,
  cert_serial TEXT NOT NULL,          -- hex, of the latest certificate issued
  issued_ms   BIGINT NOT NULL,
  revoked_ms  BIGINT                 -- NULL while the device may connect
);
CREATE INDEX provisioned_by_store ON provisioned_devices (store);

-- Every trust update signed by the hub (docs/security.md): version N lists
-- the public keys agents trust from N on, and is signed by a key trusted at
-- N - 1. The retained trust message carries the latest few, in order.
CREATE TABLE trust_updates (
  version      BIGINT PRIMARY KEY,
  issued_at    TEXT NOT NULL,
  update_json  TEXT NOT NULL,         -- the signed update exactly as published
  published_ms BIGINT NOT NULL
);
