-- The audit JSON of a vendor's bid action, byte for byte what audit/record.py's Row.data()
-- writes: keys sorted, token_id and issued_by only when the request had them.
CREATE OR REPLACE FUNCTION bid_audit_data(
    p_action text, p_actor bigint, p_after text, p_object_id bigint, p_object_type text,
    p_request_id text, p_token_id bigint, p_issued_by bigint
) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT '{"action":' || to_json(p_action)::text
        || ',"actor_id":' || p_actor::text
        || ',"after":' || p_after
        || ',"before":null'
        || coalesce(',"issued_by":' || p_issued_by::text, '')
        || ',"object_id":' || p_object_id::text
        || ',"object_type":' || to_json(p_object_type)::text
        || ',"request_id":' || coalesce(to_json(p_request_id)::text, 'null')
        || ',"role":"vendor"'
        || coalesce(',"token_id":' || p_token_id::text, '')
        || '}'
$$;
