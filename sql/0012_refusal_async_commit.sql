-- place_bid(): a refused bid commits without waiting for its WAL flush.
--
-- A refusal stores one row, its `bid.refused` audit entry, and changes no state: the
-- auction, the bids, the outbox and the caller's standing are as they were. Waiting for
-- the disk flush at its commit cost more than anything else in it: with the flush, each
-- refusal held its auction's audit-chain row (the chain's ordering point) through a
-- flush, so every refusal on a contested auction queued behind the previous one's disk
-- write, and PostgreSQL's CPU per bid request was 0.68-0.86 ms against 0.49-0.54 ms
-- without it (docs/performance.md).
--
-- What this gives up, and only for refusals: after a crash of PostgreSQL itself, the
-- refusals answered in the last moment before it (at most about 3 x wal_writer_delay,
-- 600 ms by default) may be missing from the audit log. The chain stays whole: WAL is
-- one sequence, so any later synchronous commit (an accepted bid, any other change)
-- makes every earlier refusal durable, and a lost tail is lost entirely, never a row in
-- the middle. Nothing a client was told succeeded is lost. An audit export or manifest
-- first makes every row it can see durable (audit/export.py), so nothing it signs can
-- disappear. PostgreSQL documents this mix of synchronous and asynchronous commits for
-- exactly this kind of lesser record (the "Asynchronous Commit" section of its manual).
--
-- Same function as sql/0009 otherwise.

CREATE OR REPLACE FUNCTION place_bid(
    p_auction_id bigint, p_bidder_id bigint, p_amount bigint, p_token_id bigint,
    p_request_id text
) RETURNS TABLE (
    outcome text, detail text, bid_id bigint, placed_at timestamptz, bid_status text,
    alias_number integer, ends_at timestamptz, extended boolean, extensions integer,
    max_allowed_cents bigint, auction_status text
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_user     record;
    v_auction  record;
    v_took     record;
    v_bid      record;
    v_sealed   boolean;
    v_has_bid  boolean := false;
    v_taken    boolean := false;
    v_alias    integer;
    v_code     text;
    v_detail   text;
    v_max      bigint;
    v_status   text;
BEGIN
    -- The caller's standing now (a token revoked a moment ago, a role or verification
    -- changed): fresh rows, whatever the API process cached.
    SELECT u.roles, u.department_id, u.verification_status INTO v_user
    FROM users u
    WHERE u.id = p_bidder_id
      AND (p_token_id IS NULL OR EXISTS (
          SELECT 1 FROM api_tokens t
          WHERE t.id = p_token_id AND t.user_id = u.id AND t.revoked_at IS NULL));
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'invalid_token', 'the token is unknown or has been revoked',
            NULL::bigint, NULL::timestamptz, NULL::text, NULL::integer, NULL::timestamptz,
            NULL::boolean, NULL::integer, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    IF NOT 'vendor' = ANY (v_user.roles) THEN
        RETURN QUERY SELECT 'role_required', 'this needs the role vendor',
            NULL::bigint, NULL::timestamptz, NULL::text, NULL::integer, NULL::timestamptz,
            NULL::boolean, NULL::integer, NULL::bigint, NULL::text;
        RETURN;
    END IF;

    -- Drafts are visible only to their department, admins and auditors (auctions/service.py).
    SELECT a.type, a.department_id, a.status INTO v_auction FROM auctions a WHERE a.id = p_auction_id;
    IF NOT FOUND OR (v_auction.status = 'draft'
                     AND v_auction.department_id IS DISTINCT FROM v_user.department_id
                     AND NOT v_user.roles && ARRAY['admin', 'auditor']) THEN
        RETURN QUERY SELECT 'auction_not_found', 'no such auction',
            NULL::bigint, NULL::timestamptz, NULL::text, NULL::integer, NULL::timestamptz,
            NULL::boolean, NULL::integer, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    v_sealed := v_auction.type = 'sealed';

    IF v_user.verification_status <> 'verified' THEN
        v_code := 'vendor_not_verified';
        v_detail := 'only verified vendors bid; your verification is '
            || v_user.verification_status;
    ELSIF v_user.department_id = v_auction.department_id THEN
        v_code := 'conflict_of_interest';
        v_detail := 'members of the buying department cannot bid on its auctions';
    ELSIF v_sealed THEN
        -- One sealed bid per vendor: take the row lock first, so that the check sees a
        -- rival bid of the same vendor that committed while we waited.
        PERFORM 1 FROM auctions a WHERE a.id = p_auction_id FOR UPDATE;
        v_has_bid := EXISTS (
            SELECT 1 FROM bids b WHERE b.auction_id = p_auction_id AND b.bidder_id = p_bidder_id);
        UPDATE auctions a
        SET bid_count = a.bid_count + 1,
            low_bidder_id = CASE WHEN a.lowest_cents IS NULL OR p_amount < a.lowest_cents
                            THEN p_bidder_id ELSE a.low_bidder_id END,
            lowest_cents = LEAST(a.lowest_cents, p_amount)
        WHERE a.id = p_auction_id AND a.type = 'sealed' AND a.status = 'open'
          AND now() < a.ends_at AND p_amount <= a.price_cap_cents AND NOT v_has_bid
        RETURNING a.ends_at, a.extensions, false AS extended INTO v_took;
        v_taken := FOUND;
    ELSE
        -- The referee (DESIGN §4): one guarded statement; soft close as in bids/queries.py.
        UPDATE auctions a
        SET lowest_cents = p_amount, low_bidder_id = p_bidder_id, bid_count = a.bid_count + 1,
            ends_at = CASE WHEN a.soft_close_seconds > 0 AND a.extensions < a.max_extensions
                                AND a.ends_at - now() < a.soft_close_seconds * interval '1 second'
                      THEN now() + a.soft_close_seconds * interval '1 second' ELSE a.ends_at END,
            extensions = a.extensions
                + CASE WHEN a.soft_close_seconds > 0 AND a.extensions < a.max_extensions
                            AND a.ends_at - now() < a.soft_close_seconds * interval '1 second'
                       THEN 1 ELSE 0 END,
            last_bid_extended = a.soft_close_seconds > 0 AND a.extensions < a.max_extensions
                AND a.ends_at - now() < a.soft_close_seconds * interval '1 second'
        WHERE a.id = p_auction_id AND a.type = 'reverse' AND a.status = 'open'
          AND now() < a.ends_at
          AND a.low_bidder_id IS DISTINCT FROM p_bidder_id
          AND p_amount <= COALESCE(a.lowest_cents - a.min_decrement_cents, a.price_cap_cents)
        RETURNING a.ends_at, a.extensions, a.last_bid_extended AS extended INTO v_took;
        v_taken := FOUND;
    END IF;

    IF v_code IS NULL AND NOT v_taken THEN
        -- The guard matched nothing: re-read (a fresh snapshot) and say why, in the order
        -- bids/service.py documents.
        SELECT a.status, a.ends_at <= now() AS ended, a.type, a.low_bidder_id,
               CASE WHEN a.type = 'sealed' OR a.lowest_cents IS NULL THEN a.price_cap_cents
                    ELSE a.lowest_cents - a.min_decrement_cents END AS allowed
        INTO v_auction FROM auctions a WHERE a.id = p_auction_id;
        IF v_auction.status <> 'open' THEN
            v_code := 'auction_not_open';
            v_status := v_auction.status;
            v_detail := 'bidding is not open; the auction is ' || v_auction.status;
        ELSIF v_auction.ended THEN
            v_code := 'auction_closed';
            v_status := 'closing';
            v_detail := 'bidding has ended';
        ELSIF v_auction.type = 'reverse' AND (v_auction.low_bidder_id = p_bidder_id
                                               OR p_amount <= v_auction.allowed) THEN
            -- The only reverse refusal that can lapse before this re-read is "you are the
            -- low bidder" (a rival may have outbid the caller meanwhile): if the amount fits
            -- now, that was the reason at the moment the guard decided.
            v_code := 'already_low_bidder';
            v_detail := 'you are the low bidder; wait until you are outbid';
        ELSIF p_amount > v_auction.allowed OR NOT v_has_bid THEN
            v_code := 'amount_too_high';
            v_max := v_auction.allowed;
            v_detail := 'the highest bid allowed now is ' || v_auction.allowed || ' cents';
        ELSE
            v_code := 'already_bid';
            v_detail := 'you already placed your sealed bid in this auction';
        END IF;
    END IF;

    IF v_code IS NOT NULL THEN
        -- A refusal changes nothing but the audit log: its commit need not wait for the
        -- WAL flush (see the header). Accepted bids, below, still commit synchronously.
        PERFORM set_config('synchronous_commit', 'off', true);
        PERFORM audit_append(
            'auction:' || p_auction_id, p_auction_id, v_sealed,
            bid_audit_data(
                'bid.refused', p_bidder_id,
                '{"amount_cents":' || p_amount || ',"code":' || to_json(v_code)::text
                    || ',"detail":' || to_json(v_detail)::text || '}',
                p_auction_id, 'auction', p_request_id));
        RETURN QUERY SELECT v_code, v_detail,
            NULL::bigint, NULL::timestamptz, NULL::text, NULL::integer, NULL::timestamptz,
            NULL::boolean, NULL::integer, v_max, v_status;
        RETURN;
    END IF;

    -- Accepted. The alias is assigned on the first bid, under the row lock we hold.
    SELECT ab.alias_number INTO v_alias FROM auction_bidders ab
    WHERE ab.auction_id = p_auction_id AND ab.bidder_id = p_bidder_id;
    IF NOT FOUND THEN
        INSERT INTO auction_bidders (auction_id, bidder_id, alias_number)
        SELECT p_auction_id, p_bidder_id, COALESCE(max(ab.alias_number), 0) + 1
        FROM auction_bidders ab WHERE ab.auction_id = p_auction_id
        RETURNING auction_bidders.alias_number INTO v_alias;
    END IF;

    INSERT INTO bids (auction_id, bidder_id, amount_cents, sealed)
    VALUES (p_auction_id, p_bidder_id, p_amount, v_sealed)
    RETURNING bids.id, bids.placed_at, bids.status INTO v_bid;

    IF NOT v_sealed THEN
        INSERT INTO outbox (auction_id, type, payload) VALUES (
            p_auction_id, 'bid.placed', convert_to(
                '{"type":"bid.placed","event_id":0,"occurred_at":null,"auction_id":'
                || p_auction_id || ',"bid_id":' || v_bid.id || ',"amount_cents":' || p_amount
                || ',"bidder_alias":"Bidder ' || v_alias || '","ends_at":"'
                || bid_time_text(v_took.ends_at, 'Z') || '"}', 'UTF8'));
        IF v_took.extended THEN
            INSERT INTO outbox (auction_id, type, payload) VALUES (
                p_auction_id, 'auction.extended', convert_to(
                    '{"type":"auction.extended","event_id":0,"occurred_at":null,"auction_id":'
                    || p_auction_id || ',"ends_at":"' || bid_time_text(v_took.ends_at, 'Z')
                    || '","extensions":' || v_took.extensions || '}', 'UTF8'));
        END IF;
    END IF;

    PERFORM audit_append(
        'auction:' || p_auction_id, p_auction_id, v_sealed,
        bid_audit_data(
            'bid.placed', p_bidder_id,
            '{"amount_cents":' || p_amount || ',"bidder_alias":"Bidder ' || v_alias
                || '","ends_at":"' || bid_time_text(v_took.ends_at, '+00:00')
                || '","extended":' || v_took.extended::text || '}',
            v_bid.id, 'bid', p_request_id));

    RETURN QUERY SELECT 'accepted', NULL::text, v_bid.id, v_bid.placed_at, v_bid.status,
        v_alias, v_took.ends_at, v_took.extended, v_took.extensions, NULL::bigint, NULL::text;
END $$;
