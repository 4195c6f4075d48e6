-- The outbox relay (DESIGN §7): ordering guarantee and a fast wake-up.

-- A transaction owns a transaction id before it takes an event id. The relay publishes
-- rows up to a watermark (the sequence's last value, read before the relay takes its own
-- transaction id) only once every older transaction id has finished, so no transaction
-- still holding a smaller event id can commit behind an event already on a stream.
CREATE FUNCTION outbox_next_id() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN nextval('outbox_id_seq');
END $$;

ALTER TABLE outbox ALTER COLUMN id SET DEFAULT outbox_next_id();

-- Wakes the relay at commit (LISTEN outbox); a short poll remains the backstop.
-- One notification per statement, and PostgreSQL folds repeats within a transaction.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_inserted AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
