-- Finance records the execution of a released payment order (DESIGN §6, §10
-- POST /api/payments/{id}/executed): the reference of the card payment or transfer, who
-- recorded it and when. Recorded once; the payee is told.
ALTER TABLE payments
    ADD COLUMN executed_at         timestamptz,
    ADD COLUMN executed_by         bigint REFERENCES users (id),
    ADD COLUMN execution_reference text,
    ADD CONSTRAINT payments_execution_whole CHECK (
        (executed_at IS NULL) = (executed_by IS NULL)
        AND (executed_at IS NULL) = (execution_reference IS NULL));
