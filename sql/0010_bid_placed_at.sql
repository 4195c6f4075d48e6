-- A bid's placed_at is the moment its guard judged it: the transaction's now(), the clock
-- place_bid() compares with ends_at. The insert-time clock_timestamp() it had before could
-- read up to a lock wait later, so a bid rightly accepted just before the end showed a
-- placed_at after ends_at.
ALTER TABLE bids ALTER COLUMN placed_at SET DEFAULT now();
