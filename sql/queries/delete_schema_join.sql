-- delete_schema_join
-- Hard-delete one join and return it as it was. No row: the join does not exist.
-- params: tenant_id, join_id
-- uses: schema_joins_pkey, data_schemas_pkey
WITH j AS (
    DELETE FROM schema_joins
     WHERE tenant_id = %(tenant_id)s
       AND id        = %(join_id)s
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
