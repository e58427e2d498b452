-- find_api_key
-- The key with this digest, whatever its tenant: the key is what names the tenant, so this
-- is the one lookup that cannot be tenant-scoped. Expiry and revocation are judged by the caller.
-- params: digest
-- uses: api_keys_digest_key
SELECT k.id,
       k.tenant_id,
       k.role,
       k.expires_at,
       k.revoked_at
  FROM api_keys AS k
 WHERE k.digest = %(digest)s;
