-- Form submissions accepted by the hub (SPEC 6): each re-validated with the
-- shared form engine against the form version it names; one row per form
-- event identity. Submissions that fail go to dead_letters instead.
CREATE TABLE form_submissions (
  device      TEXT NOT NULL,
  epoch       TEXT NOT NULL,
  seq         BIGINT NOT NULL,
  submission  TEXT NOT NULL,          -- the device's submission id
  store       TEXT NOT NULL,
  region      TEXT NOT NULL,
  form_id     TEXT NOT NULL,
  version     BIGINT NOT NULL,
  scope       TEXT NOT NULL,          -- policy scope whose definition validated it
  data        TEXT NOT NULL,          -- cleaned data (JSON), as re-validated here
  tickets     TEXT NOT NULL,          -- JSON array of ticket ids the device opened
  at          TEXT NOT NULL,          -- submission time as sent (ISO UTC)
  at_ms       BIGINT NOT NULL,
  received_ms BIGINT NOT NULL,
  PRIMARY KEY (device, epoch, seq)
);
CREATE INDEX form_submissions_by_id ON form_submissions (submission);
CREATE INDEX form_submissions_by_form ON form_submissions (form_id, version);
CREATE INDEX form_submissions_by_store ON form_submissions (store, at_ms);

-- Every form definition in the published policy history, extracted once
-- per policy version (form_index records which versions were read), so
-- re-validating a submission never re-parses whole policy documents.
CREATE TABLE form_defs (
  scope          TEXT NOT NULL,
  policy_version BIGINT NOT NULL,
  form_id        TEXT NOT NULL,
  form_version   BIGINT NOT NULL,
  def            TEXT NOT NULL,       -- the form definition (JSON)
  PRIMARY KEY (scope, policy_version, form_id)
);
CREATE INDEX form_defs_by_form ON form_defs (form_id, form_version);
CREATE TABLE form_index (
  scope          TEXT NOT NULL,
  policy_version BIGINT NOT NULL,
  PRIMARY KEY (scope, policy_version)
);
