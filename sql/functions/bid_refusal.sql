-- The bid rule of an auction's row (DESIGN §4): why a bid of p_amount by p_bidder_id at the
-- instant p_at is refused, or NULL when the row takes it. The codes and their order are
-- the API's (bids/service.py lists them): not open, ended, the caller is the low bidder
-- (reverse), above the maximum, the caller's sealed bid is in (p_has_bid).
--
-- place_bid() asks it twice of the same kind of row: as the guard of its UPDATE (where
-- PostgreSQL re-checks it against the latest committed row after waiting on the row lock)
-- and, when that UPDATE took nothing, of the one version it then reads, so the reason a
-- bidder is told is true of one version of the auction. A plain SQL expression, so the
-- planner inlines it into the guard.
CREATE OR REPLACE FUNCTION bid_refusal(
    p_type text, p_status text, p_ends_at timestamptz, p_low_bidder_id bigint,
    p_lowest_cents bigint, p_min_decrement_cents bigint, p_price_cap_cents bigint,
    p_has_bid boolean, p_bidder_id bigint, p_amount bigint, p_at timestamptz
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_status <> 'open' THEN 'auction_not_open'
        WHEN p_ends_at <= p_at THEN 'auction_closed'
        WHEN p_type = 'reverse' AND p_low_bidder_id = p_bidder_id THEN 'already_low_bidder'
        WHEN p_amount > bid_max_allowed(p_type, p_lowest_cents, p_min_decrement_cents,
                                        p_price_cap_cents) THEN 'amount_too_high'
        WHEN p_type = 'sealed' AND p_has_bid THEN 'already_bid'
    END
$$;
