-- Form submissions (SPEC 6). A submission keeps the exact form definition
-- it was validated against (form_defs), so an agent keeps every form
-- version its unsent submissions use whatever happens to the policy cache.

-- Form definitions used by at least one recorded submission.
CREATE TABLE form_defs (
  id       INTEGER PRIMARY KEY,
  form_id  TEXT NOT NULL,
  version  INTEGER NOT NULL,
  scope    TEXT NOT NULL,             -- policy scope the definition came from
  def      TEXT NOT NULL,             -- the form definition (JSON)
  UNIQUE (form_id, version, scope, def)
);

-- One row per recorded submission; written in the same transaction as its
-- outbox row (type "form", seq below).
CREATE TABLE form_submissions (
  id        TEXT PRIMARY KEY,         -- "{device}-F{n}", unique per device
  form_def  INTEGER NOT NULL REFERENCES form_defs(id),
  form_id   TEXT NOT NULL,
  version   INTEGER NOT NULL,
  data      TEXT NOT NULL,            -- cleaned data (JSON)
  at_ms     INTEGER NOT NULL,
  seq       INTEGER NOT NULL          -- outbox seq of its "form" event
);
CREATE INDEX form_submissions_by_seq ON form_submissions (seq);

-- Tickets a submission's on_submit asked for. ticket is NULL while the
-- ticket could not be opened (error says why), so the link survives and
-- the ticket can be opened later.
CREATE TABLE form_ticket_requests (
  submission TEXT NOT NULL REFERENCES form_submissions(id),
  idx        INTEGER NOT NULL,        -- position among the matching on_submit entries
  category   TEXT NOT NULL,
  priority   TEXT NOT NULL,
  title      TEXT NOT NULL,
  ticket     TEXT,
  error      TEXT,
  PRIMARY KEY (submission, idx)
);
