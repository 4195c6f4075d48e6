-- audit_append(): one row of the hash-chained audit log (DESIGN §8), in the caller's
-- transaction. The chain row is the ordering point: it is locked (inserted only the first
-- time), the row hash is computed once, the entry inserted and the chain row updated once.
--
-- The row hash covers the chain, its position, the database time and the exact JSON text,
-- chained to the previous row: sha256(prev_hash || chain '\n' seq '\n' micros '\n' data)
-- (audit/verify.py checks exports with the same formula). p_withheld keeps the row, and
-- the rest of its chain, out of the event browser and exports until its auction closes.
CREATE OR REPLACE FUNCTION audit_append(
    p_chain text, p_auction_id bigint, p_withheld boolean, p_data text
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
    INSERT INTO audit_log (chain, seq, auction_id, withheld, occurred_at, data, prev_hash, hash)
    VALUES (p_chain, v_seq, p_auction_id, p_withheld, v_at, p_data, v_prev, v_hash)
    RETURNING id INTO v_id;
    UPDATE audit_chains SET seq = v_seq, head = v_hash WHERE chain = p_chain;
    RETURN v_id;
END $$;
