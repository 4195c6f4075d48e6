-- Foundation: departments, users and roles, API tokens, the outbox and the audit log.

CREATE TABLE departments (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CONSTRAINT departments_name_key UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id                   bigserial PRIMARY KEY,
    email                text NOT NULL,
    name                 text NOT NULL,
    roles                text[] NOT NULL DEFAULT '{}',
    department_id        bigint CONSTRAINT users_department_fk REFERENCES departments (id),
    verification_status  text NOT NULL DEFAULT 'unverified',
    verification_kind    text,
    registry_id          text,
    verification_reason  text,
    verification_decided_at timestamptz,
    github_id            bigint CONSTRAINT users_github_id_key UNIQUE,
    github_login         text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_roles_check CHECK (
        roles <@ ARRAY['buyer', 'vendor', 'reviewer', 'finance', 'auditor', 'admin']::text[]
    ),
    CONSTRAINT users_verification_status_check CHECK (
        verification_status IN ('unverified', 'pending', 'verified', 'rejected')
    ),
    CONSTRAINT users_verification_kind_check CHECK (
        verification_kind IS NULL OR verification_kind IN ('business', 'individual', 'student')
    )
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    token_hash  bytea NOT NULL CONSTRAINT api_tokens_hash_key UNIQUE,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Transactional outbox: written in the same transaction as the change it announces,
-- relayed to Redis streams after commit. The id is the event id (monotonic).
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    auction_id  bigint,
    type        text NOT NULL,
    payload     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    relayed_at  timestamptz
);
CREATE INDEX outbox_unrelayed_idx ON outbox (id) WHERE relayed_at IS NULL;
CREATE INDEX outbox_auction_idx ON outbox (auction_id, id);

-- Append-only, hash-chained audit log: one chain per auction plus 'global'.
CREATE TABLE audit_chains (
    chain       text PRIMARY KEY,
    seq         bigint NOT NULL DEFAULT 0,
    head        bytea NOT NULL DEFAULT '\x'
);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    chain        text NOT NULL,
    seq          bigint NOT NULL,
    auction_id   bigint,
    -- Sealed bids stay out of exports and the event browser until their auction closes.
    sealed       boolean NOT NULL DEFAULT false,
    occurred_at  timestamptz NOT NULL,
    data         text NOT NULL,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL,
    CONSTRAINT audit_log_chain_seq_key UNIQUE (chain, seq)
);
CREATE INDEX audit_log_auction_idx ON audit_log (auction_id, id);
CREATE INDEX audit_log_time_idx ON audit_log (occurred_at);

-- The row hash covers the chain, its position, the database time and the exact JSON text,
-- chained to the previous row: sha256(prev_hash || chain '\n' seq '\n' micros '\n' data).
CREATE FUNCTION audit_append(p_chain text, p_auction_id bigint, p_sealed boolean, p_data text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_seq  bigint;
    v_prev bytea;
    v_at   timestamptz := date_trunc('microseconds', clock_timestamp());
    v_id   bigint;
BEGIN
    INSERT INTO audit_chains (chain) VALUES (p_chain) ON CONFLICT (chain) DO NOTHING;
    UPDATE audit_chains SET seq = seq + 1 WHERE chain = p_chain RETURNING seq, head
        INTO v_seq, v_prev;
    INSERT INTO audit_log (chain, seq, auction_id, sealed, occurred_at, data, prev_hash, hash)
    VALUES (
        p_chain, v_seq, p_auction_id, p_sealed, v_at, p_data, v_prev,
        sha256(v_prev || convert_to(
            p_chain || E'\n' || v_seq::text || E'\n'
            || ((extract(epoch FROM v_at) * 1000000)::numeric(20, 0))::text || E'\n' || p_data,
            'UTF8'))
    ) RETURNING id INTO v_id;
    UPDATE audit_chains SET head = (SELECT hash FROM audit_log WHERE id = v_id)
        WHERE chain = p_chain;
    RETURN v_id;
END $$;

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
