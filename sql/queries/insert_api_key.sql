-- insert_api_key
-- Register a key by its digest (the raw key is never stored).
-- params: tenant_id, key_id, digest, role, name, expires_at
-- uses: api_keys_pkey
INSERT INTO api_keys (tenant_id, id, digest, role, name, expires_at)
VALUES (%(tenant_id)s, %(key_id)s, %(digest)s, %(role)s, %(name)s, %(expires_at)s)
RETURNING id, tenant_id, role, name, api_timestamp(expires_at) AS expires_at;
