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

-- The purchase history the hub sends with a ticket that names a customer
-- (SPEC 13 customer_history: sku, name, qty, at, channel, store - no name
-- or phone of the customer), newest copy per ticket.
CREATE TABLE ticket_customer_history (
  ticket     TEXT PRIMARY KEY,
  history    TEXT NOT NULL,          -- JSON array, at most 50 purchases
  updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
