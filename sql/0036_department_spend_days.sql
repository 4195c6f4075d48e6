-- Department spend kept per local day (issue 27): GET /api/departments/{id}/spend sums
-- these rows instead of reading every award the department ever made (a report over ten
-- years sums at most 3,653 rows per department, however many awards). Triggers keep them in the
-- same transaction as the awards and auctions they count (sql/functions/spend_days.sql).
--
-- spend_basis says in which zone the days are local and against which threshold
-- near_threshold counts: both are deployment settings (MARKETPLACE_TIMEZONE,
-- MARKETPLACE_THRESHOLD_CENTS). The API rebuilds the days when its settings differ
-- (spend_rebuild()) and counts awards directly until they agree. Its one row exists from
-- here on, empty zone meaning "not kept yet": every writer locks it, which is what lets a
-- rebuild see every award (spend_days.sql says how).
CREATE TABLE spend_basis (
    only_row         boolean PRIMARY KEY DEFAULT true CONSTRAINT spend_basis_one_row CHECK (only_row),
    zone             text NOT NULL,
    threshold_cents  bigint NOT NULL
);
INSERT INTO spend_basis (zone, threshold_cents) VALUES ('', 0);

CREATE TABLE department_spend_days (
    department_id    bigint NOT NULL REFERENCES departments (id),
    day              date NOT NULL,  -- local in spend_basis.zone
    awards           bigint NOT NULL DEFAULT 0,
    committed_cents  bigint NOT NULL DEFAULT 0,
    paid_awards      bigint NOT NULL DEFAULT 0,
    paid_cents       bigint NOT NULL DEFAULT 0,
    near_threshold   bigint NOT NULL DEFAULT 0,
    near_cap         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (department_id, day)
);

-- The edges of a from/to report that cut a day are counted from the awards themselves:
-- those of that stretch of time only.
CREATE INDEX awards_active_awarded_at ON awards (awarded_at) WHERE status = 'active';
