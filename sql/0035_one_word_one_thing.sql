-- One word, one thing (issue 26): "delivery" is the winner's pull request (deliveries).
-- GitHub's webhook deliveries, stored as triggers, are github_events; the department
-- webhooks' outbound POSTs are webhook_sends. Renamed in place: rows, ids and references
-- stay as they are. (The public names stay too: X-GitHub-Delivery, X-Marketplace-Delivery.)

ALTER TABLE github_deliveries RENAME TO github_events;
ALTER SEQUENCE github_deliveries_id_seq RENAME TO github_events_id_seq;
ALTER TABLE github_events RENAME CONSTRAINT github_deliveries_pkey TO github_events_pkey;
ALTER TABLE github_events
    RENAME CONSTRAINT github_deliveries_delivery_id_key TO github_events_delivery_id_key;
ALTER INDEX github_deliveries_repo_pr_idx RENAME TO github_events_repo_pr_idx;
ALTER INDEX github_deliveries_head_sha_idx RENAME TO github_events_head_sha_idx;
ALTER INDEX github_deliveries_unenqueued_idx RENAME TO github_events_unenqueued_idx;

ALTER TABLE webhook_deliveries RENAME TO webhook_sends;
ALTER SEQUENCE webhook_deliveries_id_seq RENAME TO webhook_sends_id_seq;
ALTER TABLE webhook_sends RENAME CONSTRAINT webhook_deliveries_pkey TO webhook_sends_pkey;
ALTER TABLE webhook_sends RENAME CONSTRAINT webhook_deliveries_event_key TO webhook_sends_event_key;
ALTER TABLE webhook_sends
    RENAME CONSTRAINT webhook_deliveries_status_check TO webhook_sends_status_check;
ALTER TABLE webhook_sends
    RENAME CONSTRAINT webhook_deliveries_webhook_id_fkey TO webhook_sends_webhook_id_fkey;
ALTER INDEX webhook_deliveries_due_idx RENAME TO webhook_sends_due_idx;
