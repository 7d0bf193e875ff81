-- Field service (SPEC 15): which stores each device serves besides its own,
-- and the photos form submissions name.

-- A device may write ticket events for the stores it serves. Rows come from
-- `shoal-hub provision --serves` (source 'provision', authoritative: the
-- broker ACL is written from them) or, for a device the hub never
-- provisioned, from its hello (source 'hello').
CREATE TABLE device_serves (
  device TEXT NOT NULL,
  store  TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('provision', 'hello')),
  PRIMARY KEY (device, store)
);

-- One row per photo an ingested submission names: the hub accepts a PUT of
-- exactly these bytes (size and SHA-256) once; stored_ms is set when the
-- verified file is in the media folder.
CREATE TABLE media (
  sha256     TEXT PRIMARY KEY,
  bytes      BIGINT NOT NULL,
  type       TEXT NOT NULL,
  submission TEXT NOT NULL,
  store      TEXT NOT NULL,
  named_ms   BIGINT NOT NULL,
  stored_ms  BIGINT
);
