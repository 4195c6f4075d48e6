-- The highest amount a bid may have on an auction's row as it stands (DESIGN §4): the price
-- cap for a sealed auction or a reverse one without bids, else the low bid less the
-- decrement. The one statement of it; place_bid() and bid_refusal() use it.
CREATE OR REPLACE FUNCTION bid_max_allowed(
    p_type text, p_lowest_cents bigint, p_min_decrement_cents bigint, p_price_cap_cents bigint
) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_type = 'sealed' OR p_lowest_cents IS NULL THEN p_price_cap_cents
                ELSE p_lowest_cents - p_min_decrement_cents END
$$;
