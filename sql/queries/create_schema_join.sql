-- create_schema_join
-- Store a new join and return it in the API's shape, in one statement (one round trip).
-- The join's foreign keys are the validation: each side's (tenant, schema, key field) must
-- be a registered field, and registered fields belong to the tenant's registered schemas.
-- When a side is not, the statement fails (23503, the side's constraint) and nothing is
-- stored; the service then runs check_join_sides to say which side and why. The foreign key
-- checks lock the fields (KEY SHARE) until the statement's transaction ends, so a field or
-- schema deleted at the same moment either waits for this join (and is then refused) or
-- makes this insert fail.
-- params: tenant_id, join_id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key, join_type, auto_enrich, status
-- uses: data_schemas_pkey
WITH j AS (
    INSERT INTO schema_joins (tenant_id, id, name, primary_schema_id, primary_key,
                              foreign_schema_id, foreign_key, join_type, auto_enrich, status)
    VALUES (%(tenant_id)s, %(join_id)s, %(name)s, %(primary_schema_id)s, %(primary_key)s,
            %(foreign_schema_id)s, %(foreign_key)s, %(join_type)s, %(auto_enrich)s, %(status)s)
    RETURNING id, tenant_id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key,
              join_type, auto_enrich, status, created_at, updated_at
)
SELECT j.id,
       j.tenant_id,
       j.name,
       j.primary_schema_id,
       j.primary_key,
       j.foreign_schema_id,
       j.foreign_key,
       j.join_type,
       j.auto_enrich,
       j.status,
       api_timestamp(j.created_at) AS created_at,
       api_timestamp(j.updated_at) AS updated_at,
       COALESCE(NULLIF(p.display_name, ''), NULLIF(p.name, ''), 'Unknown') AS primary_schema_name,
       COALESCE(NULLIF(f.display_name, ''), NULLIF(f.name, ''), 'Unknown') AS foreign_schema_name
  FROM j
  LEFT JOIN data_schemas AS p
         ON p.tenant_id = %(tenant_id)s
        AND p.id        = j.primary_schema_id
  LEFT JOIN data_schemas AS f
         ON f.tenant_id = %(tenant_id)s
        AND f.id        = j.foreign_schema_id;
