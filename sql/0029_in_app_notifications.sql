-- In-app notifications (DESIGN §10 GET /api/me/notifications): the notifications consumer
-- writes one row beside each mail_outbox row it writes, with the same dedupe key, subject
-- and words, in the same transaction; so whatever is mailed is also shown in the app, and
-- nothing is shown before it would be mailed.
CREATE TABLE notifications (
    id          bigserial PRIMARY KEY,
    dedupe_key  text NOT NULL CONSTRAINT notifications_dedupe_key UNIQUE,
    event_id    bigint NOT NULL,
    user_id     bigint NOT NULL REFERENCES users (id),
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz
);
-- A user's list, newest first, and their unread count on every page.
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
CREATE INDEX notifications_unread_idx ON notifications (user_id, id) WHERE read_at IS NULL;
