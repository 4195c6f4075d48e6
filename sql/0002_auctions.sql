-- Auctions, bids, awards and idempotency keys.

CREATE TABLE auctions (
    id                      bigserial PRIMARY KEY,
    department_id           bigint NOT NULL REFERENCES departments (id),
    created_by              bigint NOT NULL REFERENCES users (id),
    title                   text NOT NULL,
    summary                 text NOT NULL DEFAULT '',
    description             text NOT NULL DEFAULT '',
    repo                    text NOT NULL,
    repo_id                 bigint,
    issue_number            integer,
    target_branch           text,
    type                    text NOT NULL DEFAULT 'reverse',
    price_cap_cents         bigint NOT NULL,
    min_decrement_cents     bigint NOT NULL DEFAULT 100,
    starts_at               timestamptz NOT NULL,
    ends_at                 timestamptz NOT NULL,
    scheduled_ends_at       timestamptz NOT NULL,
    delivery_due_at         timestamptz,
    delivery_business_days  integer,
    soft_close_seconds      integer NOT NULL DEFAULT 120,
    max_extensions          integer NOT NULL DEFAULT 10,
    extensions              integer NOT NULL DEFAULT 0,
    -- Whether the latest accepted bid triggered a soft-close extension.
    last_bid_extended       boolean NOT NULL DEFAULT false,
    skills                  text[] NOT NULL DEFAULT '{}',
    status                  text NOT NULL DEFAULT 'draft',
    lowest_cents            bigint,
    low_bidder_id           bigint REFERENCES users (id),
    bid_count               integer NOT NULL DEFAULT 0,
    cancel_reason           text,
    copied_from             bigint REFERENCES auctions (id),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    published_at            timestamptz,
    opened_at               timestamptz,
    closed_at               timestamptz,
    cancelled_at            timestamptz,
    CONSTRAINT auctions_type_check CHECK (type IN ('reverse', 'sealed')),
    CONSTRAINT auctions_status_check CHECK (status IN (
        'draft', 'scheduled', 'open', 'awarded', 'closed_no_bids', 'cancelled', 'delivered',
        'pending_review', 'accepted', 'rejected', 'paid', 'payment_confirmed', 'missed_delivery')),
    CONSTRAINT auctions_cap_positive CHECK (price_cap_cents > 0),
    CONSTRAINT auctions_decrement_positive CHECK (min_decrement_cents > 0),
    CONSTRAINT auctions_window_check CHECK (ends_at > starts_at),
    CONSTRAINT auctions_soft_close_check CHECK (soft_close_seconds >= 0 AND max_extensions >= 0),
    CONSTRAINT auctions_delivery_check CHECK (
        (delivery_due_at IS NULL) <> (delivery_business_days IS NULL))
);
CREATE INDEX auctions_status_ends_idx ON auctions (status, ends_at);
CREATE INDEX auctions_status_starts_idx ON auctions (status, starts_at);
CREATE INDEX auctions_department_idx ON auctions (department_id, id);
CREATE INDEX auctions_skills_idx ON auctions USING gin (skills);

-- A bidder's stable pseudonym within one auction ("Bidder 3").
CREATE TABLE auction_bidders (
    auction_id    bigint NOT NULL REFERENCES auctions (id),
    bidder_id     bigint NOT NULL REFERENCES users (id),
    alias_number  integer NOT NULL,
    first_bid_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (auction_id, bidder_id),
    CONSTRAINT auction_bidders_alias_key UNIQUE (auction_id, alias_number)
);

CREATE TABLE bids (
    id            bigserial PRIMARY KEY,
    auction_id    bigint NOT NULL REFERENCES auctions (id),
    bidder_id     bigint NOT NULL REFERENCES users (id),
    amount_cents  bigint NOT NULL,
    sealed        boolean NOT NULL DEFAULT false,
    status        text NOT NULL DEFAULT 'active',
    placed_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT bids_amount_positive CHECK (amount_cents > 0),
    CONSTRAINT bids_status_check CHECK (status IN ('active', 'voided'))
);
CREATE INDEX bids_auction_idx ON bids (auction_id, id);
CREATE INDEX bids_bidder_idx ON bids (bidder_id, id);
-- Sealed auctions take one bid per vendor.
CREATE UNIQUE INDEX bids_sealed_one_per_vendor ON bids (auction_id, bidder_id) WHERE sealed;

CREATE TABLE awards (
    id              bigserial PRIMARY KEY,
    auction_id      bigint NOT NULL REFERENCES auctions (id),
    round           integer NOT NULL DEFAULT 1,
    winner_id       bigint NOT NULL REFERENCES users (id),
    bid_id          bigint NOT NULL REFERENCES bids (id),
    amount_cents    bigint NOT NULL,
    runner_up_ids   bigint[] NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'active',
    awarded_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    CONSTRAINT awards_status_check CHECK (status IN ('active', 'superseded', 'declined')),
    CONSTRAINT awards_round_key UNIQUE (auction_id, round)
);
CREATE UNIQUE INDEX awards_one_active_per_auction ON awards (auction_id) WHERE status = 'active';

-- Idempotency-Key: a retry with the same key and body gets the original answer (24 h).
CREATE TABLE idempotency_keys (
    user_id       bigint NOT NULL REFERENCES users (id),
    endpoint      text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    status_code   integer NOT NULL,
    response      bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, endpoint, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
