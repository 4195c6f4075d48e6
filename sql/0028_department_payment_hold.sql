-- A department may choose its own wait between acceptance and payment release (the window
-- for disputes); NULL follows the deployment's MARKETPLACE_PAYMENT_HOLD_SECONDS.
ALTER TABLE departments
    ADD COLUMN payment_hold_seconds integer
        CONSTRAINT departments_payment_hold_seconds_check
        CHECK (payment_hold_seconds BETWEEN 0 AND 31536000);
