-- update_schema_join
-- Change the given fields of one join (a NULL parameter keeps the stored value), bump
-- updated_at, and return the join in the API's shape. No row: the join does not exist.
-- params: tenant_id, join_id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key, join_type, auto_enrich, status
-- uses: schema_joins_pkey, schema_fields_pkey, data_schemas_pkey
WITH j AS (
    UPDATE schema_joins
       SET name              = COALESCE(%(name)s, name),
           primary_schema_id = COALESCE(%(primary_schema_id)s, primary_schema_id),
           primary_key       = COALESCE(%(primary_key)s, primary_key),
           foreign_schema_id = COALESCE(%(foreign_schema_id)s, foreign_schema_id),
           foreign_key       = COALESCE(%(foreign_key)s, foreign_key),
           join_type         = COALESCE(%(join_type)s, join_type),
           auto_enrich       = COALESCE(%(auto_enrich)s, auto_enrich),
           status            = COALESCE(%(status)s, status),
           updated_at        = now()
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
