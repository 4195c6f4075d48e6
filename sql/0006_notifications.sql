-- Consumers of the global event stream (DESIGN §7): notifications, department webhooks,
-- the vendor registry check. Each consumer records the events it has handled in the same
-- transaction as its side effect's record, so a redelivered entry does nothing twice.

CREATE TABLE consumer_processed (
    consumer      text NOT NULL,
    event_id      bigint NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Failed attempts per (consumer, event), kept in PostgreSQL so a Redis flush does not reset
-- them; after the consumer's limit the event goes to dead_letters.
CREATE TABLE consumer_attempts (
    consumer    text NOT NULL,
    event_id    bigint NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE dead_letters (
    id            bigserial PRIMARY KEY,
    consumer      text NOT NULL,
    event_id      bigint NOT NULL,
    type          text NOT NULL,
    data          bytea NOT NULL,
    error         text NOT NULL,
    attempts      integer NOT NULL,
    status        text NOT NULL DEFAULT 'dead',
    created_at    timestamptz NOT NULL DEFAULT now(),
    requeued_at   timestamptz,
    resolved_at   timestamptz,
    CONSTRAINT dead_letters_status_check CHECK (status IN ('dead', 'requeued', 'redelivered')),
    CONSTRAINT dead_letters_event_key UNIQUE (consumer, event_id)
);
CREATE INDEX dead_letters_requeued_idx ON dead_letters (consumer, id) WHERE status = 'requeued';

-- Outgoing mail: written by the notifications consumer, delivered by the mail sender,
-- which marks each row sent once (sent_at compare-and-set) under a short claim lease.
CREATE TABLE mail_outbox (
    id               bigserial PRIMARY KEY,
    dedupe_key       text NOT NULL CONSTRAINT mail_outbox_dedupe_key UNIQUE,
    event_id         bigint NOT NULL,
    recipient_id     bigint REFERENCES users (id),
    to_address       text NOT NULL,
    subject          text NOT NULL,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_until    timestamptz,
    last_error       text,
    sent_at          timestamptz,
    failed_at        timestamptz
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;

-- Department webhooks: the secret signs deliveries, so it is stored (never shown again).
CREATE TABLE department_webhooks (
    id                    bigserial PRIMARY KEY,
    department_id         bigint NOT NULL REFERENCES departments (id),
    url                   text NOT NULL,
    secret                text NOT NULL,
    status                text NOT NULL DEFAULT 'active',
    consecutive_failures  integer NOT NULL DEFAULT 0,
    created_by            bigint REFERENCES users (id),
    created_at            timestamptz NOT NULL DEFAULT now(),
    disabled_at           timestamptz,
    deleted_at            timestamptz,
    last_delivery_at      timestamptz,
    last_status_code      integer,
    last_error            text,
    CONSTRAINT department_webhooks_status_check CHECK (status IN ('active', 'disabled'))
);
CREATE INDEX department_webhooks_department_idx ON department_webhooks (department_id)
    WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    webhook_id       bigint NOT NULL REFERENCES department_webhooks (id),
    event_id         bigint NOT NULL,
    event_type       text NOT NULL,
    payload          bytea NOT NULL,
    guid             uuid NOT NULL,
    status           text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_until    timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_deliveries_event_key UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';

-- Vendor registry checks, one per verification request; retried with backoff on errors.
CREATE TABLE registry_checks (
    id               bigserial PRIMARY KEY,
    event_id         bigint NOT NULL CONSTRAINT registry_checks_event_key UNIQUE,
    user_id          bigint NOT NULL REFERENCES users (id),
    status           text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_until    timestamptz,
    last_error       text,
    outcome          text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz,
    CONSTRAINT registry_checks_status_check CHECK (status IN ('pending', 'done'))
);
CREATE INDEX registry_checks_due_idx ON registry_checks (next_attempt_at) WHERE status = 'pending';
