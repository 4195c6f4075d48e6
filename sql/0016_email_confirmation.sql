-- E-mail confirmation of self sign-ups (issue 21, finding 6). A self sign-up gets its token
-- at once but cannot be verified (and so cannot bid) until it confirms its address through
-- a mailed link. Users created by an admin, or by GitHub sign-in, are confirmed when made.
-- Users made before this rule are taken as confirmed: nothing records otherwise.
ALTER TABLE users ADD COLUMN email_confirmed_at timestamptz;
UPDATE users SET email_confirmed_at = created_at;

-- One row per mailed link: only the token's hash is kept; a link works once, before it
-- expires, and only for the address it was mailed to.
CREATE TABLE email_confirmations (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    email       text NOT NULL,
    token_hash  bytea NOT NULL CONSTRAINT email_confirmations_token_key UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_confirmations_user ON email_confirmations (user_id);
