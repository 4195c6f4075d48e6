-- Soft close (DESIGN §4): whether a reverse bid accepted at p_at moves the end to
-- p_at + soft_close_seconds. It does within soft_close_seconds of the end, at most
-- max_extensions times; 0 seconds disables it. place_bid() asks it of the row it updates.
CREATE OR REPLACE FUNCTION soft_close_extends(
    p_soft_close_seconds integer, p_extensions integer, p_max_extensions integer,
    p_ends_at timestamptz, p_at timestamptz
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_soft_close_seconds > 0 AND p_extensions < p_max_extensions
       AND p_ends_at - p_at < p_soft_close_seconds * interval '1 second'
$$;
