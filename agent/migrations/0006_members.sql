-- Member codes redeemed on this device (SPEC 13): a code is used at most
-- once here. Only the customer id travels in a code: no name, no phone.
CREATE TABLE member_redemptions (
  nonce    TEXT PRIMARY KEY,
  customer TEXT NOT NULL,
  sale     TEXT NOT NULL,          -- receipt id of the sale that used it
  points   INTEGER NOT NULL,       -- points redeemed with it
  expires  INTEGER NOT NULL,       -- unix seconds, as signed
  at_ms    INTEGER NOT NULL
) WITHOUT ROWID;
