-- The outbox relay's watermark in one round trip (workers/relay.py, sql/0004).
--
-- The watermark is the outbox sequence's last value, read before the relay's transaction
-- takes a transaction id of its own. It took an explicit transaction of two statements
-- (BEGIN, read, take the id, COMMIT: four round trips, once per relayed batch). One
-- function call in its own implicit transaction keeps the same order: the sequence is
-- read by the first statement, the id is taken by the second.
CREATE FUNCTION relay_watermark(OUT top bigint, OUT xid text) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO top FROM outbox_id_seq s;
    xid := pg_current_xact_id()::text;
END $$;
