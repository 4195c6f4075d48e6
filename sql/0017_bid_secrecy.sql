-- Bid ids and audit rows that tell nothing about sealed bids or veiled bidders (DESIGN §4, §8).
--
-- 1. Public bid ids. bids.id is one sequence for every auction, so a vendor who bid before
--    and after a moment learnt from the gap how many bids came between, sealed ones
--    included. bids.id stays the internal order (acceptance order, the tie-break); what
--    leaves the database is public_id: 52 random bits from gen_random_uuid() (the
--    operating system's strong random source, not random()'s predictable generator), below
--    2**53 so JavaScript clients hold it exactly.
-- 2. Withheld audit rows. A bid row, sealed or not, names its bidder; DESIGN §4 veils that
--    from every role but the bidder until close. audit_log.sealed becomes withheld: every
--    bid row waits for its auction's close, and the rest of its chain with it, as sealed
--    rows did (rows written before this migration keep their old flag).
CREATE FUNCTION random_public_id() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT ('x' || substr(h, 1, 12) || substr(h, 14, 1))::bit(52)::bigint + 1
    FROM replace(gen_random_uuid()::text, '-', '') AS h
$$;

ALTER TABLE bids ADD COLUMN public_id bigint;
UPDATE bids SET public_id = random_public_id();
ALTER TABLE bids ALTER COLUMN public_id SET DEFAULT random_public_id(),
                 ALTER COLUMN public_id SET NOT NULL;
CREATE UNIQUE INDEX bids_public_id_key ON bids (public_id);

ALTER TABLE audit_log RENAME COLUMN sealed TO withheld;
-- The cut-off of each auction not yet closed is its first withheld row (audit/queries.py).
CREATE INDEX audit_log_withheld_idx ON audit_log (auction_id, id) WHERE withheld;

-- audit_append() takes the new column under its new name; its one home is now
-- sql/functions/audit_append.sql, which the runner applies after this file.
DROP FUNCTION audit_append(text, bigint, boolean, text);
