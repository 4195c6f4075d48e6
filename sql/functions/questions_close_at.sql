-- When an auction stops taking clarification questions (issue 28): 24 hours before its
-- close, or at its close for a bidding window shorter than two days, so the buyer has a day
-- to answer and every bidder a day to read the answer. The one home of the rule: the
-- question insert's guard (marketplace/clarifications/queries.py) and the auction's
-- questions_close_at field both call it.
CREATE OR REPLACE FUNCTION questions_close_at(starts_at timestamptz, ends_at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ends_at - starts_at < interval '2 days' THEN ends_at
                ELSE ends_at - interval '24 hours' END
$$;
