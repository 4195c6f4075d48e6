-- What the verification worker learns about a delivered pull request: its head commit and
-- merge commit, so check_run, check_suite and status webhooks (which name only a SHA) find
-- the deliveries they concern.
ALTER TABLE deliveries
    ADD COLUMN head_sha          text,
    ADD COLUMN merge_commit_sha  text;
CREATE INDEX deliveries_head_sha_idx ON deliveries (head_sha) WHERE status = 'submitted';
CREATE INDEX deliveries_merge_sha_idx ON deliveries (merge_commit_sha) WHERE status = 'submitted';
CREATE INDEX deliveries_pr_idx ON deliveries (pr_number) WHERE status = 'submitted';
