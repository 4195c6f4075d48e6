-- place_bid(): one bid in one round trip (DESIGN §4; bids/service.py states the rules and
-- their order, bid_refusal() is the rule itself).
--
-- In the caller's transaction it re-checks the caller's token and standing, finds the
-- auction, takes the bid with the guarded UPDATE, assigns the bidder's alias, inserts the
-- bid, writes its outbox events and appends its audit row; or, when the bid is refused,
-- appends the 'bid.refused' audit row and says why.
--
-- The session runs READ COMMITTED and the function is VOLATILE, so each statement takes a
-- fresh snapshot. The guarded UPDATE is the referee: PostgreSQL re-checks its WHERE clause
-- against the latest committed row after waiting on the row lock. When it takes nothing,
-- the reason is read from one committed version of the row and judged by the same rule,
-- bid_refusal(). That version can be newer than the one the guard refused: a rival's bid
-- that began before the end commits an extension, the auction opens, the low bidder is
-- outbid. If the newer version takes the bid, the guard runs again; the second reading is
-- taken under the row lock, so the third guard decides on exactly what it read. A reason
-- is therefore never one that no version of the auction had (issue 29: "you are the low
-- bidder" told to a vendor without a bid, racing a soft-close extension at the end).
--
-- Its audit rows, accepted or refused, are withheld until the auction closes (sql/0017):
-- they name the bidder, whom DESIGN §4 veils from every role until then.
--
-- A refusal changes nothing but the audit log, so its commit does not wait for the WAL
-- flush (sql/0012 says why and what that gives up); accepted bids commit synchronously.
--
-- The JSON it writes (outbox payloads, audit rows) is byte for byte what msgspec writes
-- from Python: compact, the same key order, RFC 3339 times ('Z' in events, '+00:00' in the
-- audit row), fractional seconds only when non-zero.
--
-- Result: outcome 'accepted' with the bid (bid_id is its public id), or a refusal code with its detail (and, for
-- amount_too_high, max_allowed_cents; for auction_not_open and auction_closed,
-- auction_status). p_token_id NULL means the caller acts without a token (the demo
-- seeder); otherwise the token must still be unrevoked and belong to p_bidder_id.
-- invalid_token, role_required and auction_not_found are not audited.
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
    v_read     record;
    v_took     record;
    v_bid      record;
    v_sealed   boolean;
    v_has_bid  boolean := false;
    v_attempt  integer := 0;
    v_alias    integer;
    v_code     text;
    v_detail   text;
    v_max      bigint;
    v_status   text;
BEGIN
    -- The caller's standing now (a token revoked a moment ago, a role or verification
    -- changed): fresh rows, whatever the API process cached.
    -- The token's issuer, when not its user, marks the audit rows (DESIGN §8).
    SELECT u.roles, u.department_id, u.verification_status, t.issued_by INTO v_user
    FROM users u
    LEFT JOIN api_tokens t
      ON t.id = p_token_id AND t.user_id = u.id AND t.revoked_at IS NULL
    WHERE u.id = p_bidder_id AND (p_token_id IS NULL OR t.id IS NOT NULL);
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
    ELSE
        LOOP
            v_attempt := v_attempt + 1;
            IF v_sealed THEN
                -- One sealed bid per vendor: take the row lock first, so that the check
                -- sees a rival bid of the same vendor that committed while we waited.
                PERFORM 1 FROM auctions a WHERE a.id = p_auction_id FOR UPDATE;
                v_has_bid := EXISTS (
                    SELECT 1 FROM bids b
                    WHERE b.auction_id = p_auction_id AND b.bidder_id = p_bidder_id);
                UPDATE auctions a
                SET bid_count = a.bid_count + 1,
                    low_bidder_id = CASE WHEN a.lowest_cents IS NULL OR p_amount < a.lowest_cents
                                    THEN p_bidder_id ELSE a.low_bidder_id END,
                    lowest_cents = LEAST(a.lowest_cents, p_amount)
                WHERE a.id = p_auction_id AND a.type = 'sealed'
                  AND bid_refusal(a.type, a.status, a.ends_at, a.low_bidder_id, a.lowest_cents,
                                  a.min_decrement_cents, a.price_cap_cents, v_has_bid,
                                  p_bidder_id, p_amount, now()) IS NULL
                RETURNING a.ends_at, a.extensions, false AS extended INTO v_took;
            ELSE
                -- The referee (DESIGN §4): one guarded statement, with soft close.
                UPDATE auctions a
                SET lowest_cents = p_amount, low_bidder_id = p_bidder_id,
                    bid_count = a.bid_count + 1,
                    ends_at = CASE WHEN soft_close_extends(a.soft_close_seconds, a.extensions,
                                                           a.max_extensions, a.ends_at, now())
                              THEN now() + a.soft_close_seconds * interval '1 second'
                              ELSE a.ends_at END,
                    extensions = a.extensions + soft_close_extends(
                        a.soft_close_seconds, a.extensions, a.max_extensions, a.ends_at,
                        now())::integer,
                    last_bid_extended = soft_close_extends(
                        a.soft_close_seconds, a.extensions, a.max_extensions, a.ends_at, now())
                WHERE a.id = p_auction_id AND a.type = 'reverse'
                  AND bid_refusal(a.type, a.status, a.ends_at, a.low_bidder_id, a.lowest_cents,
                                  a.min_decrement_cents, a.price_cap_cents, false,
                                  p_bidder_id, p_amount, now()) IS NULL
                RETURNING a.ends_at, a.extensions, a.last_bid_extended AS extended INTO v_took;
            END IF;
            EXIT WHEN FOUND;
            -- The guard refused. Say why from one committed version of the row, judged by
            -- the guard's own rule; after a first disagreement, read it under the row lock.
            IF v_attempt = 1 THEN
                SELECT a.type, a.status, a.ends_at, a.low_bidder_id, a.lowest_cents,
                       a.min_decrement_cents, a.price_cap_cents
                INTO v_read FROM auctions a WHERE a.id = p_auction_id;
            ELSIF v_attempt = 2 THEN
                SELECT a.type, a.status, a.ends_at, a.low_bidder_id, a.lowest_cents,
                       a.min_decrement_cents, a.price_cap_cents
                INTO v_read FROM auctions a WHERE a.id = p_auction_id FOR UPDATE;
            ELSE
                RAISE EXCEPTION 'place_bid: the guard refused a row it holds locked and takes';
            END IF;
            v_code := bid_refusal(v_read.type, v_read.status, v_read.ends_at,
                                  v_read.low_bidder_id, v_read.lowest_cents,
                                  v_read.min_decrement_cents, v_read.price_cap_cents,
                                  v_has_bid, p_bidder_id, p_amount, now());
            EXIT WHEN v_code IS NOT NULL;
            -- That version takes the bid: it changed after the guard looked. Guard again.
        END LOOP;
        IF v_code = 'auction_not_open' THEN
            v_status := v_read.status;
            v_detail := 'bidding is not open; the auction is ' || v_read.status;
        ELSIF v_code = 'auction_closed' THEN
            v_status := 'closing';
            v_detail := 'bidding has ended';
        ELSIF v_code = 'already_low_bidder' THEN
            v_detail := 'you are the low bidder; wait until you are outbid';
        ELSIF v_code = 'amount_too_high' THEN
            v_max := bid_max_allowed(v_read.type, v_read.lowest_cents,
                                     v_read.min_decrement_cents, v_read.price_cap_cents);
            v_detail := 'the highest bid allowed now is ' || v_max || ' cents';
        ELSIF v_code = 'already_bid' THEN
            v_detail := 'you already placed your sealed bid in this auction';
        END IF;
    END IF;

    IF v_code IS NOT NULL THEN
        -- A refusal changes nothing but the audit log: its commit need not wait for the
        -- WAL flush (see the header). Accepted bids, below, still commit synchronously.
        PERFORM set_config('synchronous_commit', 'off', true);
        PERFORM audit_append(
            'auction:' || p_auction_id, p_auction_id, true,
            bid_audit_data(
                'bid.refused', p_bidder_id,
                '{"amount_cents":' || p_amount || ',"code":' || to_json(v_code)::text
                    || ',"detail":' || to_json(v_detail)::text || '}',
                p_auction_id, 'auction', p_request_id, p_token_id, v_user.issued_by));
        RETURN QUERY SELECT v_code, v_detail,
            NULL::bigint, NULL::timestamptz, NULL::text, NULL::integer, NULL::timestamptz,
            NULL::boolean, NULL::integer, v_max, v_status;
        RETURN;
    END IF;

    -- Accepted. A reverse bidder's alias is assigned on their first bid, under the row
    -- lock we hold. A sealed bid has none until close (auctions/lifecycle.py numbers them
    -- then): "Bidder 3" would tell its bidder that two bids came first.
    IF NOT v_sealed THEN
        SELECT ab.alias_number INTO v_alias FROM auction_bidders ab
        WHERE ab.auction_id = p_auction_id AND ab.bidder_id = p_bidder_id;
        IF NOT FOUND THEN
            INSERT INTO auction_bidders (auction_id, bidder_id, alias_number)
            SELECT p_auction_id, p_bidder_id, COALESCE(max(ab.alias_number), 0) + 1
            FROM auction_bidders ab WHERE ab.auction_id = p_auction_id
            RETURNING auction_bidders.alias_number INTO v_alias;
        END IF;
    END IF;

    -- The public id is random (sql/0017); in the rare case it is taken, draw again.
    LOOP
        INSERT INTO bids (auction_id, bidder_id, amount_cents, sealed)
        VALUES (p_auction_id, p_bidder_id, p_amount, v_sealed)
        ON CONFLICT (public_id) DO NOTHING
        RETURNING bids.public_id, bids.placed_at, bids.status INTO v_bid;
        EXIT WHEN FOUND;
    END LOOP;

    IF NOT v_sealed THEN
        INSERT INTO outbox (auction_id, type, payload) VALUES (
            p_auction_id, 'bid.placed', convert_to(
                '{"type":"bid.placed","event_id":0,"occurred_at":null,"auction_id":'
                || p_auction_id || ',"bid_id":' || v_bid.public_id || ',"amount_cents":' || p_amount
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
        'auction:' || p_auction_id, p_auction_id, true,
        bid_audit_data(
            'bid.placed', p_bidder_id,
            '{"amount_cents":' || p_amount || ',"bidder_alias":'
                || coalesce('"Bidder ' || v_alias || '"', 'null')
                || ',"ends_at":"' || bid_time_text(v_took.ends_at, '+00:00')
                || '","extended":' || v_took.extended::text || '}',
            v_bid.public_id, 'bid', p_request_id, p_token_id, v_user.issued_by));

    RETURN QUERY SELECT 'accepted', NULL::text, v_bid.public_id, v_bid.placed_at, v_bid.status,
        v_alias, v_took.ends_at, v_took.extended, v_took.extensions, NULL::bigint, NULL::text;
END $$;
