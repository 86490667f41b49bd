-- lg_now is the clock of every cross-replica decision: the pair window, the
-- budget minute, the send lease and takeover. It is the database's clock,
-- never a replica's, so replicas whose clocks disagree still decide alike.
-- clock_override is the one test seam (always empty in production).
CREATE OR REPLACE FUNCTION lg_now() RETURNS timestamptz
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT o.at FROM clock_override AS o), clock_timestamp())
$$;
