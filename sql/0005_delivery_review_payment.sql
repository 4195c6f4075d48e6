-- Delivery (a PR per award), verification records, review, payments, disputes.

ALTER TABLE awards
    ADD COLUMN delivery_due_at timestamptz,
    ADD COLUMN delivered_at    timestamptz,
    ADD COLUMN verified_at     timestamptz,
    ADD COLUMN reviewed_at     timestamptz,
    ADD COLUMN declined_reason text;

-- The winner's submitted pull request. A re-submission (while delivered) supersedes the last.
CREATE TABLE deliveries (
    id                bigserial PRIMARY KEY,
    auction_id        bigint NOT NULL REFERENCES auctions (id),
    award_id          bigint NOT NULL REFERENCES awards (id),
    submitted_by      bigint NOT NULL REFERENCES users (id),
    pull_request_url  text NOT NULL,
    repo_full_name    text NOT NULL,
    pr_number         integer NOT NULL,
    status            text NOT NULL DEFAULT 'submitted',
    submitted_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deliveries_status_check CHECK (status IN ('submitted', 'verified', 'superseded'))
);
CREATE INDEX deliveries_auction_idx ON deliveries (auction_id, id);
CREATE UNIQUE INDEX deliveries_one_current_per_award ON deliveries (award_id)
    WHERE status <> 'superseded';

-- One immutable record per verification attempt: each check's name, verdict and evidence.
CREATE TABLE verifications (
    id            bigserial PRIMARY KEY,
    delivery_id   bigint NOT NULL REFERENCES deliveries (id),
    auction_id    bigint NOT NULL REFERENCES auctions (id),
    passed        boolean NOT NULL,
    checks        jsonb NOT NULL,
    trigger       text NOT NULL DEFAULT 'submission',
    merged_at     timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verifications_delivery_idx ON verifications (delivery_id, id);
CREATE INDEX verifications_auction_idx ON verifications (auction_id, id);
CREATE TRIGGER verifications_immutable BEFORE UPDATE OR DELETE ON verifications
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

CREATE TABLE reviews (
    id           bigserial PRIMARY KEY,
    auction_id   bigint NOT NULL REFERENCES auctions (id),
    award_id     bigint NOT NULL REFERENCES awards (id),
    reviewer_id  bigint NOT NULL REFERENCES users (id),
    decision     text NOT NULL,
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reviews_decision_check CHECK (decision IN ('accept', 'reject')),
    CONSTRAINT reviews_award_key UNIQUE (award_id)
);

CREATE TABLE payment_details (
    user_id     bigint PRIMARY KEY REFERENCES users (id),
    method      text NOT NULL,
    reference   text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_details_method_check CHECK (method IN ('card', 'transfer'))
);

-- Exactly one payment per award; its idempotency key goes to the provider.
CREATE TABLE payments (
    id                  bigserial PRIMARY KEY,
    award_id            bigint NOT NULL REFERENCES awards (id),
    auction_id          bigint NOT NULL REFERENCES auctions (id),
    department_id       bigint NOT NULL REFERENCES departments (id),
    payee_id            bigint NOT NULL REFERENCES users (id),
    amount_cents        bigint NOT NULL,
    status              text NOT NULL DEFAULT 'pending',
    idempotency_key     text NOT NULL,
    release_after       timestamptz NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text,
    provider_reference  text,
    missing_details     boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    released_at         timestamptz,
    confirmed_at        timestamptz,
    cancelled_at        timestamptz,
    CONSTRAINT payments_award_key UNIQUE (award_id),
    CONSTRAINT payments_idempotency_key UNIQUE (idempotency_key),
    CONSTRAINT payments_status_check CHECK (
        status IN ('pending', 'released', 'confirmed', 'failed', 'cancelled')),
    CONSTRAINT payments_amount_positive CHECK (amount_cents > 0)
);
CREATE INDEX payments_due_idx ON payments (release_after) WHERE status IN ('pending', 'failed');
CREATE INDEX payments_payee_idx ON payments (payee_id, id);

-- The built-in provider: a ledger of payment orders for the department's finance office.
CREATE TABLE ledger_entries (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL CONSTRAINT ledger_entries_idempotency_key UNIQUE,
    payment_id       bigint NOT NULL REFERENCES payments (id),
    department_id    bigint NOT NULL REFERENCES departments (id),
    payee_id         bigint NOT NULL REFERENCES users (id),
    amount_cents     bigint NOT NULL,
    method           text,
    reference        text,
    missing_details  boolean NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE disputes (
    id                 bigserial PRIMARY KEY,
    payment_id         bigint NOT NULL REFERENCES payments (id),
    opened_by          bigint NOT NULL REFERENCES users (id),
    opened_role        text NOT NULL,
    reason             text NOT NULL,
    status             text NOT NULL DEFAULT 'open',
    outcome            text,
    resolved_by        bigint REFERENCES users (id),
    resolution_reason  text,
    opened_at          timestamptz NOT NULL DEFAULT now(),
    resolved_at        timestamptz,
    CONSTRAINT disputes_status_check CHECK (status IN ('open', 'resolved')),
    CONSTRAINT disputes_outcome_check CHECK (outcome IS NULL OR outcome IN ('release', 'cancel'))
);
CREATE UNIQUE INDEX disputes_one_open_per_payment ON disputes (payment_id) WHERE status = 'open';
