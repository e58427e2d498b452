-- revoke_api_keys_by_name
-- Revoke every live key of one tenant that carries this name (the demo replaces its key).
-- params: tenant_id, name
-- uses: api_keys_pkey
UPDATE api_keys
   SET revoked_at = now()
 WHERE tenant_id = %(tenant_id)s
   AND name      = %(name)s
   AND revoked_at IS NULL;
