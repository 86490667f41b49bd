-- event_delivery_job_live tells whether River still holds a job that will
-- run for the delivery (of any generation): a job that is queued, waiting
-- for a retry or running. A delivery with none is sent by nobody.
--
-- PL/pgSQL, not SQL: river_job is River's table, created by its own
-- migrator, which sqlc does not read. The lookup is an args containment,
-- served by River's GIN index on args (river_job_args_index). A generic
-- plan does not know the value and scans river_job by state instead (a
-- third of a second a call at 200k jobs was measured): each call is planned
-- with its value. STABLE: it reads with its caller's snapshot.
CREATE OR REPLACE FUNCTION event_delivery_job_live(p_delivery_id bigint) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    v_args jsonb := jsonb_build_object('delivery_id', p_delivery_id);
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM river_job AS j
        WHERE j.args @> v_args
          AND j.kind = 'event_delivery'
          AND j.state IN ('available', 'scheduled', 'running', 'retryable', 'pending')
    );
END;
$$;
