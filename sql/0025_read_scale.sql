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
