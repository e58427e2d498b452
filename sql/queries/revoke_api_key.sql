-- revoke_api_key
-- Revoke one key by its id (an operator command; key ids are unique across tenants).
-- Revoking twice keeps the first revocation time.
-- params: key_id
-- uses: api_keys_id_key
UPDATE api_keys
   SET revoked_at = COALESCE(revoked_at, now())
 WHERE id = %(key_id)s
RETURNING id, tenant_id, api_timestamp(revoked_at) AS revoked_at;
