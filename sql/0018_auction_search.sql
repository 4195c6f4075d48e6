-- Search (DESIGN §10, `q` of GET /api/auctions): an index that answers "which auctions
-- have this text in their title, summary or description" without reading every
-- description, keeping what q means: a case-insensitive substring (ILIKE), wildcards
-- literal.
--
-- pg_trgm would do this, but the embedded PostgreSQL ships without contrib extensions, so
-- the same idea is written here: each auction's texts are kept as the set of the byte
-- strings of one, two and three bytes found in their lowercased UTF-8 (its "grams"), under a
-- GIN index. Every gram of a text q is found in any text that holds q, so
-- `grams @> search_query_grams(q)` picks a superset of the matches from the index, and the
-- ILIKE that follows it (auctions/queries.py) keeps exactly the matches. A q of up to three
-- bytes is one gram; a longer one is its three-byte grams.
--
-- Bytes, not characters: substr() of a character is a walk from the start of a UTF-8 text,
-- which made the grams of a 20,000-character description cost seconds; of a bytea it is a
-- step. The texts are materialized once for the same reason (inlined, lower() ran per gram).
--
-- The grams live in their own table, kept by a trigger that fires only when a text
-- changes: a bid updates its auction's row, and must not recompute or re-index the grams
-- of a long description.
--
-- These functions are in this migration, not sql/functions/: stored grams are only right
-- for the definition that computed them, so a change is a new migration that recomputes
-- them, never a silent re-definition.

-- Every byte string of up to three bytes in lower(p_text): the distinct three-byte ones
-- (shorter at the end), then their one- and two-byte prefixes.
CREATE FUNCTION search_grams(p_text text) RETURNS bytea[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    WITH s AS MATERIALIZED (SELECT convert_to(lower(p_text), 'UTF8') AS b),
    tri AS (SELECT DISTINCT substr(b, i, 3) AS g FROM s, generate_series(1, octet_length(b)) i)
    SELECT coalesce(array_agg(DISTINCT v.g), '{}')
    FROM tri, LATERAL (VALUES (tri.g), (substr(tri.g, 1, 2)), (substr(tri.g, 1, 1))) AS v(g)
$$;

CREATE FUNCTION search_query_grams(p_q text) RETURNS bytea[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    WITH s AS MATERIALIZED (SELECT convert_to(lower(p_q), 'UTF8') AS b)
    SELECT CASE WHEN octet_length(b) <= 3 THEN ARRAY[b]
                ELSE ARRAY(SELECT DISTINCT substr(b, i, 3)
                           FROM generate_series(1, octet_length(b) - 2) i) END
    FROM s
$$;

CREATE TABLE auction_search (
    auction_id  bigint PRIMARY KEY REFERENCES auctions (id) ON DELETE CASCADE,
    grams       bytea[] NOT NULL
);

CREATE INDEX auction_search_grams ON auction_search USING gin (grams);

-- A newline between the texts: grams across two of them are harmless (the ILIKE re-check
-- drops what they let through).
CREATE FUNCTION auction_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auction_search (auction_id, grams)
    VALUES (NEW.id, search_grams(concat_ws(E'\n', NEW.title, NEW.summary, NEW.description)))
    ON CONFLICT (auction_id) DO UPDATE SET grams = EXCLUDED.grams;
    RETURN NULL;
END
$$;

CREATE TRIGGER auction_search_sync
AFTER INSERT OR UPDATE OF title, summary, description ON auctions
FOR EACH ROW EXECUTE FUNCTION auction_search_sync();

INSERT INTO auction_search (auction_id, grams)
SELECT id, search_grams(concat_ws(E'\n', title, summary, description)) FROM auctions;
