-- Reads that stay fast as history grows (issue 27).

-- Award notices serve the latest round of each auction straight from an index: `latest` is
-- true on exactly one award per auction, its highest round (trigger below, one home).
ALTER TABLE awards ADD COLUMN latest boolean NOT NULL DEFAULT true;
UPDATE awards w SET latest = false
WHERE EXISTS (SELECT 1 FROM awards x WHERE x.auction_id = w.auction_id AND x.round > w.round);

CREATE FUNCTION awards_keep_latest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE awards SET latest = false
    WHERE auction_id = NEW.auction_id AND latest AND round < NEW.round;
    NEW.latest := true;
    RETURN NEW;
END $$;
CREATE TRIGGER awards_keep_latest BEFORE INSERT ON awards
    FOR EACH ROW EXECUTE FUNCTION awards_keep_latest();

CREATE INDEX awards_latest_recent ON awards (awarded_at DESC, id DESC) WHERE latest;
CREATE INDEX awards_recent ON awards (awarded_at DESC, id DESC);

-- Platform figures (GET /api/metrics, /insights, the /metrics gauges) are served from the
-- latest snapshot, refreshed by the worker and at most MARKETPLACE_FIGURES_MAX_AGE_SECONDS
-- old (marketplace/transparency/figures.py). `watermark` is max(audit_log.id) when computed:
-- every change the figures count writes an audit row.
CREATE TABLE figure_snapshots (
    name         text PRIMARY KEY,
    watermark    bigint NOT NULL,
    computed_at  timestamptz NOT NULL,
    body         text NOT NULL
);

-- The auction list's "ending_soon" order as three stored keys one index can serve, in the
-- order auctions/queries.py documents: phase (open, scheduled, draft, ended), then soonest
-- end first (most recent first once ended), then id the same way. Interval arithmetic on
-- timestamptz is immutable, so the keys can be generated columns.
ALTER TABLE auctions
    ADD COLUMN list_phase smallint GENERATED ALWAYS AS (
        CASE status WHEN 'open' THEN 0 WHEN 'scheduled' THEN 1 WHEN 'draft' THEN 2 ELSE 3 END
    ) STORED,
    ADD COLUMN list_time interval GENERATED ALWAYS AS (
        CASE WHEN status IN ('open', 'scheduled', 'draft')
             THEN ends_at - timestamptz '2000-01-01 00:00:00+00'
             ELSE timestamptz '2000-01-01 00:00:00+00' - ends_at END
    ) STORED,
    ADD COLUMN list_id bigint GENERATED ALWAYS AS (
        CASE WHEN status IN ('open', 'scheduled', 'draft') THEN id ELSE -id END
    ) STORED;
CREATE INDEX auctions_list_idx ON auctions (list_phase, list_time, list_id);
CREATE INDEX auctions_list_status_idx ON auctions (status, list_phase, list_time, list_id);
CREATE INDEX auctions_list_department_idx
    ON auctions (department_id, list_phase, list_time, list_id);
CREATE INDEX auctions_cap_idx ON auctions (price_cap_cents, id);

-- Skills match case-insensitively (GET /api/auctions?skill=): from a GIN index of the
-- lower-cased skills.
CREATE FUNCTION lower_skills(skills text[]) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (SELECT coalesce(array_agg(lower(s)), '{}') FROM unnest(skills) s);
CREATE INDEX auctions_lower_skills_idx ON auctions USING gin (lower_skills(skills));

-- The event browser's action filter (GET /api/audit/events?action=) from an index in the
-- log's order, instead of parsing every row's JSON: the action as a stored column.
ALTER TABLE audit_log
    ADD COLUMN action text GENERATED ALWAYS AS ((data::jsonb) ->> 'action') STORED;
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
