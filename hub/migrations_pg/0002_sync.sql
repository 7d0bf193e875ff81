-- Sync extras: lookups the fleet view and metrics make on dead letters
-- (per device, and recent ones) without scanning the table.
CREATE INDEX dead_letters_by_device ON dead_letters (device);
CREATE INDEX dead_letters_by_time ON dead_letters (received_ms);

-- When the broker confirmed (PUBACK) the retained publish of a version.
-- NULL: recorded but not confirmed; `shoal-hub run` publishes it.
ALTER TABLE policies ADD COLUMN confirmed_ms BIGINT;
