-- list_schema_joins
-- Every join of one tenant, newest first (ties by id), with both schemas' display names
-- (display name, else internal name, else 'Unknown'). One statement: no query per row.
-- params: tenant_id
-- uses: schema_joins_list_idx, data_schemas_pkey
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
  FROM schema_joins AS j
  LEFT JOIN data_schemas AS p
         ON p.tenant_id = %(tenant_id)s
        AND p.id        = j.primary_schema_id
  LEFT JOIN data_schemas AS f
         ON f.tenant_id = %(tenant_id)s
        AND f.id        = j.foreign_schema_id
 WHERE j.tenant_id = %(tenant_id)s
 ORDER BY j.created_at DESC, j.id DESC;
