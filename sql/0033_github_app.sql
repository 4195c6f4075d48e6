-- GitHub App mode and the repair of missed webhooks (DESIGN §5).

-- Each webhook event GitHub failed to send us, by its guid (X-GitHub-Delivery, our
-- github_deliveries.delivery_id): the redeliveries asked for it (marketplace/github/repair.py),
-- the last failed attempt each answered, and how it ended.
CREATE TABLE github_redeliveries (
    guid              text PRIMARY KEY,
    hook              text NOT NULL,
    event             text NOT NULL,
    first_failed_at   timestamptz NOT NULL,
    last_attempt_id   bigint NOT NULL,
    asked             integer NOT NULL DEFAULT 0,
    last_asked_at     timestamptz,
    repaired_at       timestamptz,
    gave_up_at        timestamptz,
    CONSTRAINT github_redeliveries_asked_check CHECK (asked >= 0)
);

-- Per webhook ('app', or 'repo:owner/name:hook id'): the newest attempt a scan of its
-- deliveries has seen; the next scan reads back to it (with an overlap).
CREATE TABLE github_hook_cursors (
    hook          text PRIMARY KEY,
    seen_through  timestamptz NOT NULL,
    scanned_at    timestamptz NOT NULL DEFAULT now()
);

-- App mode: whether the App reads each published auction's repository, as last learned
-- (from GET /repos/{owner}/{repo}/installation and the installation webhooks). A change
-- to a state other than 'installed' is told to the buyer (auction.github_access_lost).
CREATE TABLE auction_github_access (
    auction_id       bigint PRIMARY KEY REFERENCES auctions (id),
    repo             text NOT NULL,
    installation_id  bigint,
    state            text NOT NULL,
    changed_at       timestamptz NOT NULL DEFAULT now(),
    checked_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT auction_github_access_state_check
        CHECK (state IN ('installed', 'not_installed', 'removed'))
);
CREATE INDEX auction_github_access_installation_idx ON auction_github_access (installation_id);
