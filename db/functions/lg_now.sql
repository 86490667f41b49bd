-- lg_now is the clock of every cross-replica decision: the pair window, the
-- budget minute, the send lease and takeover. It is the database's clock,
-- never a replica's, so replicas whose clocks disagree still decide alike.
-- clock_override is the one test seam (always empty in production).
--
-- PL/pgSQL, not SQL: a SQL function that cannot be inlined (this one reads
-- a table) is parsed and planned again in every transaction that calls it,
-- about a tenth of a send's admission; PL/pgSQL keeps its plan. Its plan is
-- a sequential scan whatever its caller allows (the send path's functions
-- forbid them): a test that sets the clock thousands of times leaves the
-- one row's index with as many dead entries, and an index scan walks them
-- all (23 ms a read was measured).
CREATE OR REPLACE FUNCTION lg_now() RETURNS timestamptz
LANGUAGE plpgsql VOLATILE PARALLEL SAFE SET enable_seqscan = on AS $$
BEGIN
    RETURN coalesce((SELECT o.at FROM clock_override AS o), clock_timestamp());
END;
$$;
