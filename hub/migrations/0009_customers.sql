-- Customers, loyalty and e-commerce orders (SPEC 13). Name and phone live
-- here and nowhere else: nothing the hub sends to a device reads them.

-- The registry, with each customer's points account kept beside it (updated
-- in the same transaction as every ledger row, so a balance lookup is one
-- primary-key read). tags: JSON array of identifiers.
CREATE TABLE customers (
  id          TEXT PRIMARY KEY,
  name        TEXT,
  phone       TEXT,
  tier        TEXT,
  tags        TEXT NOT NULL DEFAULT '[]',
  points      INTEGER NOT NULL DEFAULT 0,  -- balance: earned - redeemed (returns reverse both)
  reserved    INTEGER NOT NULL DEFAULT 0,  -- held by member codes not yet used or released
  overdrafts  INTEGER NOT NULL DEFAULT 0,  -- redemptions that arrived after their reservation went
  created_ms  INTEGER NOT NULL,
  updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX customers_by_phone ON customers (phone);

-- The points ledger: one row per (event identity, kind), so a redelivered
-- sale, return or order changes nothing. points is the signed change to the
-- balance. ref names what booked it (a sale receipt, an order, a code).
CREATE TABLE loyalty_ledger (
  id        INTEGER PRIMARY KEY,
  event     TEXT NOT NULL,               -- "sale:{device}/{epoch}/{seq}", "order:{channel}/{id}" ...
  kind      TEXT NOT NULL,               -- earn, redeem, reverse_earn, refund_redeem
  customer  TEXT NOT NULL,
  points    INTEGER NOT NULL,
  at_ms     INTEGER NOT NULL,
  ref       TEXT,
  overdraft INTEGER NOT NULL DEFAULT 0,  -- 1: a redeem whose reservation was already released
  UNIQUE (event, kind)
);
CREATE INDEX loyalty_ledger_by_customer ON loyalty_ledger (customer, at_ms);

-- Member codes issued, with the points each reserves. A reservation ends
-- (state 'used' or 'released') when the sale using the code arrives or at
-- release_ms = expiry + grace, whichever comes first.
CREATE TABLE member_codes (
  nonce       TEXT PRIMARY KEY,
  customer    TEXT NOT NULL,
  points      INTEGER NOT NULL,
  issued_ms   INTEGER NOT NULL,
  expires_ms  INTEGER NOT NULL,
  release_ms  INTEGER NOT NULL,
  state       TEXT NOT NULL DEFAULT 'reserved',  -- reserved, used, released
  ended_ms    INTEGER,
  uses        INTEGER NOT NULL DEFAULT 0         -- sales that named it (more than 1: a double spend)
) WITHOUT ROWID;
CREATE INDEX member_codes_due ON member_codes (state, release_ms);
CREATE INDEX member_codes_by_customer ON member_codes (customer);

-- E-commerce orders, once per (channel, order_id). A paid order is also a
-- row of `sales` (device = the channel, epoch 'orders', seq = id), so
-- reports and settlement count it with the tills.
CREATE TABLE orders (
  id          INTEGER PRIMARY KEY,
  channel     TEXT NOT NULL,
  order_id    TEXT NOT NULL,
  customer    TEXT,
  store       TEXT NOT NULL,
  region      TEXT,
  status      TEXT NOT NULL,              -- paid, refunded
  paid_ms     INTEGER NOT NULL,
  refunded_ms INTEGER,
  total       INTEGER NOT NULL,
  points      INTEGER NOT NULL DEFAULT 0, -- points the order earned
  unknown_skus TEXT,                      -- JSON array: SKUs no policy prices (accepted, flagged)
  body        TEXT NOT NULL,              -- the order as posted (paid)
  received_ms INTEGER NOT NULL,
  UNIQUE (channel, order_id)
);
CREATE INDEX orders_by_customer ON orders (customer, paid_ms);

-- Every purchase line that names a customer (till sales and orders), newest
-- first per customer: the timeline, customer_history on tickets and the
-- repeat-purchase report read it without parsing sale bodies.
CREATE TABLE customer_purchases (
  customer  TEXT NOT NULL,
  at_ms     INTEGER NOT NULL,
  source    TEXT NOT NULL,                -- "sale:{device}/{epoch}/{seq}" or "order:{channel}/{id}"
  channel   TEXT NOT NULL,
  store     TEXT NOT NULL,
  line_no   INTEGER NOT NULL,
  sku       TEXT NOT NULL,
  name      TEXT,
  qty       INTEGER NOT NULL,
  total     INTEGER NOT NULL,
  PRIMARY KEY (customer, at_ms, source, line_no)
) WITHOUT ROWID;
CREATE INDEX customer_purchases_by_time ON customer_purchases (at_ms);

-- Timeline entries other than purchases (returns, refunds, tickets, form
-- submissions) naming a customer: kind, what it refers to, a small JSON summary.
CREATE TABLE customer_events (
  customer  TEXT NOT NULL,
  at_ms     INTEGER NOT NULL,
  kind      TEXT NOT NULL,                -- sale, return, order, refund, ticket, form
  ref       TEXT NOT NULL,
  summary   TEXT NOT NULL,
  PRIMARY KEY (customer, kind, ref)
) WITHOUT ROWID;
CREATE INDEX customer_events_by_time ON customer_events (customer, at_ms);

