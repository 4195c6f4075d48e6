-- GitHub webhook deliveries: each stored once by X-GitHub-Delivery, as triggers for workers.
-- The payload is kept for operators; workers re-fetch from GitHub instead of trusting it.

CREATE TABLE github_deliveries (
    id            bigserial PRIMARY KEY,
    delivery_id   text NOT NULL CONSTRAINT github_deliveries_delivery_id_key UNIQUE,
    event         text NOT NULL,
    action        text,
    repo_id       bigint,
    repo_full_name text,
    pr_number     integer,
    head_sha      text,
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    -- Set once the job is in the queue; a redelivery of a row still NULL here enqueues again.
    enqueued_at   timestamptz
);
CREATE INDEX github_deliveries_repo_pr_idx ON github_deliveries (repo_id, pr_number);
CREATE INDEX github_deliveries_head_sha_idx ON github_deliveries (head_sha);
CREATE INDEX github_deliveries_unenqueued_idx ON github_deliveries (id) WHERE enqueued_at IS NULL;
