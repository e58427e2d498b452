-- find_api_key
-- The key with this digest, whatever its tenant: the key is what names the tenant, so this
-- is the one lookup that cannot be tenant-scoped. Expiry and revocation are judged by the
-- caller; the expiry comes as seconds since the epoch, a number any expiry converts to.
-- params: digest
-- uses: api_keys_digest_key
SELECT k.id,
       k.tenant_id,
       k.role,
       date_part('epoch', k.expires_at) AS expires_epoch,
       k.revoked_at IS NOT NULL AS revoked
  FROM api_keys AS k
 WHERE k.digest = %(digest)s;
