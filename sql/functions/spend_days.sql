-- Department spend per local day (sql/0036_department_spend_days.sql), one home:
-- what an award adds to its day, the triggers that keep the days, and their rebuild.
-- The report's definitions (marketplace/transparency/schemas.py SPEND_DEFINITIONS) are
-- these: an active award counts on the day it was awarded; "paid" is its auction's status
-- being paid or payment_confirmed (transparency.queries.PAID says the same, and a test
-- holds them together); near_threshold is an amount at 90 % of the threshold or more,
-- near_cap at 90 % of the auction's price cap or more.
--
-- The triggers read the other table as it is now, so a statement must not change an
-- award's status, amount or time together with its auction's status (none does: the two
-- statements that touch both change an award's verified_at or reviewed_at only).
--
-- A day row is locked by every change it counts, so the order in which a transaction
-- takes day rows must be one order: a close inserts its awards by department (all on the
-- current day), and a single change takes its award's old day, then the new one (the
-- current day): no two transactions can wait for each other.

CREATE OR REPLACE FUNCTION spend_paid(p_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_status IN ('paid', 'payment_confirmed')
$$;

-- Adds (p_sign = 1) or takes away (-1) one active award. Every writer takes the basis row
-- FOR SHARE first and holds it to its commit: a rebuild, which takes it FOR UPDATE, waits
-- for them and then counts what they wrote; a writer after it waits and uses the new basis.
CREATE OR REPLACE FUNCTION spend_add(
    p_department_id bigint, p_awarded_at timestamptz, p_amount bigint, p_cap bigint,
    p_paid boolean, p_sign integer
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    -- Plain types, not spend_basis's row type: the function is created after every
    -- migration, but a migration test creates it on a database older than that table.
    v_zone text;
    v_threshold_cents bigint;
BEGIN
    SELECT zone, threshold_cents INTO v_zone, v_threshold_cents FROM spend_basis FOR SHARE;
    IF v_zone = '' THEN
        RETURN;  -- not kept yet: reports count the awards
    END IF;
    INSERT INTO department_spend_days AS m (
        department_id, day, awards, committed_cents, paid_awards, paid_cents,
        near_threshold, near_cap)
    VALUES (
        p_department_id, (p_awarded_at AT TIME ZONE v_zone)::date,
        p_sign, p_sign * p_amount,
        CASE WHEN p_paid THEN p_sign ELSE 0 END,
        CASE WHEN p_paid THEN p_sign * p_amount ELSE 0 END,
        CASE WHEN p_amount * 10 >= v_threshold_cents * 9 THEN p_sign ELSE 0 END,
        CASE WHEN p_amount * 10 >= p_cap * 9 THEN p_sign ELSE 0 END)
    ON CONFLICT (department_id, day) DO UPDATE SET
        awards = m.awards + EXCLUDED.awards,
        committed_cents = m.committed_cents + EXCLUDED.committed_cents,
        paid_awards = m.paid_awards + EXCLUDED.paid_awards,
        paid_cents = m.paid_cents + EXCLUDED.paid_cents,
        near_threshold = m.near_threshold + EXCLUDED.near_threshold,
        near_cap = m.near_cap + EXCLUDED.near_cap;
END $$;

CREATE OR REPLACE FUNCTION spend_track_award() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a record;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.amount_cents = NEW.amount_cents
       AND OLD.awarded_at = NEW.awarded_at AND OLD.auction_id = NEW.auction_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'active' THEN
        SELECT department_id, price_cap_cents, status INTO a FROM auctions WHERE id = OLD.auction_id;
        PERFORM spend_add(a.department_id, OLD.awarded_at, OLD.amount_cents,
                          a.price_cap_cents, spend_paid(a.status), -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'active' THEN
        SELECT department_id, price_cap_cents, status INTO a FROM auctions WHERE id = NEW.auction_id;
        PERFORM spend_add(a.department_id, NEW.awarded_at, NEW.amount_cents,
                          a.price_cap_cents, spend_paid(a.status), 1);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER awards_spend
    AFTER INSERT OR DELETE OR UPDATE OF status, amount_cents, awarded_at, auction_id ON awards
    FOR EACH ROW EXECUTE FUNCTION spend_track_award();

CREATE OR REPLACE FUNCTION spend_track_auction() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    w record;
BEGIN
    IF spend_paid(OLD.status) = spend_paid(NEW.status)
       AND OLD.department_id = NEW.department_id
       AND OLD.price_cap_cents = NEW.price_cap_cents THEN
        RETURN NULL;
    END IF;
    FOR w IN SELECT awarded_at, amount_cents FROM awards
             WHERE auction_id = NEW.id AND status = 'active' LOOP
        PERFORM spend_add(OLD.department_id, w.awarded_at, w.amount_cents,
                          OLD.price_cap_cents, spend_paid(OLD.status), -1);
        PERFORM spend_add(NEW.department_id, w.awarded_at, w.amount_cents,
                          NEW.price_cap_cents, spend_paid(NEW.status), 1);
    END LOOP;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER auctions_spend
    AFTER UPDATE OF status, department_id, price_cap_cents ON auctions
    FOR EACH ROW EXECUTE FUNCTION spend_track_auction();

-- Recounts every day on a new basis; false when the basis was already this one. Run it
-- in a READ COMMITTED transaction of its own: once it holds the basis row, each statement
-- below sees every award whose writer held it before.
CREATE OR REPLACE FUNCTION spend_rebuild(p_zone text, p_threshold_cents bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM spend_basis WHERE zone = p_zone AND threshold_cents = p_threshold_cents;
    IF FOUND THEN
        RETURN false;  -- the usual start-up: nothing to wait for
    END IF;
    PERFORM 1 FROM spend_basis FOR UPDATE;
    PERFORM 1 FROM spend_basis WHERE zone = p_zone AND threshold_cents = p_threshold_cents;
    IF FOUND THEN
        RETURN false;
    END IF;
    UPDATE spend_basis SET zone = p_zone, threshold_cents = p_threshold_cents;
    DELETE FROM department_spend_days;
    INSERT INTO department_spend_days (
        department_id, day, awards, committed_cents, paid_awards, paid_cents,
        near_threshold, near_cap)
    SELECT a.department_id, (w.awarded_at AT TIME ZONE p_zone)::date,
           count(*), sum(w.amount_cents),
           count(*) FILTER (WHERE spend_paid(a.status)),
           coalesce(sum(w.amount_cents) FILTER (WHERE spend_paid(a.status)), 0),
           count(*) FILTER (WHERE w.amount_cents * 10 >= p_threshold_cents * 9),
           count(*) FILTER (WHERE w.amount_cents * 10 >= a.price_cap_cents * 9)
    FROM awards w JOIN auctions a ON a.id = w.auction_id
    WHERE w.status = 'active'
    GROUP BY 1, 2;
    RETURN true;
END $$;
