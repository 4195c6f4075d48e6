-- Performance: what PostgreSQL spends on every bid, accepted or refused (docs/performance.md).
--
-- 1. bid_audit_data() was declared IMMUTABLE, but to_json() is only STABLE, so the planner
--    never inlined it: each call ran as a separate SQL-function executor, ~100 us of the
--    ~700 us place_bid() took. STABLE is its true volatility, and lets it inline.
-- 2. audit_append() took the chain row with INSERT ... ON CONFLICT DO NOTHING on every call
--    (an index probe and a speculative insertion), updated it twice (the sequence, then the
--    head, read back from the new audit_log row). Now: lock the row (inserting it only the
--    first time), compute the hash once, insert the entry, update the row once. The hash is
--    the same expression over the same values, so every chain verifies as before
--    (audit/verify.py), and the chain row is still the ordering point (DESIGN §8).
ALTER FUNCTION bid_audit_data(text, bigint, text, bigint, text, text) STABLE;

CREATE OR REPLACE FUNCTION audit_append(
    p_chain text, p_auction_id bigint, p_sealed boolean, p_data text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_seq  bigint;
    v_prev bytea;
    v_hash bytea;
    v_at   timestamptz := date_trunc('microseconds', clock_timestamp());
    v_id   bigint;
BEGIN
    SELECT c.seq + 1, c.head INTO v_seq, v_prev
    FROM audit_chains c WHERE c.chain = p_chain FOR UPDATE;
    IF NOT FOUND THEN  -- the chain's first entry
        INSERT INTO audit_chains (chain) VALUES (p_chain) ON CONFLICT (chain) DO NOTHING;
        SELECT c.seq + 1, c.head INTO v_seq, v_prev
        FROM audit_chains c WHERE c.chain = p_chain FOR UPDATE;
    END IF;
    v_hash := sha256(v_prev || convert_to(
        p_chain || E'\n' || v_seq::text || E'\n'
        || ((extract(epoch FROM v_at) * 1000000)::numeric(20, 0))::text || E'\n' || p_data,
        'UTF8'));
    INSERT INTO audit_log (chain, seq, auction_id, sealed, occurred_at, data, prev_hash, hash)
    VALUES (p_chain, v_seq, p_auction_id, p_sealed, v_at, p_data, v_prev, v_hash)
    RETURNING id INTO v_id;
    UPDATE audit_chains SET seq = v_seq, head = v_hash WHERE chain = p_chain;
    RETURN v_id;
END $$;
