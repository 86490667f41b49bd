-- message_id_floor is the smallest UUIDv7 of p_at's millisecond: message ids
-- are UUIDv7, so [message_id_floor(a), message_id_floor(b)) holds exactly
-- the messages made from a to b (the bounds of messages' day partitions).
CREATE OR REPLACE FUNCTION message_id_floor(p_at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM p_at) * 1000)::bigint), 12, '0') || '00000000000000000000')::uuid
$$;
