-- A verification attempt that could not observe GitHub (an answer of an unexpected shape, a
-- refusal, an outage) is a record too: outcome "error", with a reason a person can act on,
-- never a verdict (passed is false, checks empty, the auction does not move). The same reason
-- seen again on the next retry adds no row (marketplace/deliveries/verification.py).
ALTER TABLE verifications ADD COLUMN error text;
-- /metrics counts them on every scrape (marketplace_verification_errors_total).
CREATE INDEX verifications_errors_idx ON verifications (id) WHERE error IS NOT NULL;
