-- lock_schema_join
-- The stored key pair of one join, locked until the transaction ends, so that an update
-- validates against the values it will overwrite. No row: the join does not exist.
-- params: tenant_id, join_id
-- uses: schema_joins_pkey
SELECT j.primary_schema_id,
       j.primary_key,
       j.foreign_schema_id,
       j.foreign_key
  FROM schema_joins AS j
 WHERE j.tenant_id = %(tenant_id)s
   AND j.id        = %(join_id)s
   FOR UPDATE;
