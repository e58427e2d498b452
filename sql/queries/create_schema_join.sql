-- create_schema_join
-- Validate both sides of a new join and store it, in one statement (one round trip).
-- One row per side, primary (1) then foreign (2): the schema's internal name (NULL when the
-- tenant has no such schema) and whether the key field is registered on it. When both sides
-- hold, the join is stored and the row of side 1 carries it in the API's shape; otherwise
-- nothing is stored and those columns are NULL.
-- The fields found are locked (KEY SHARE) until the statement's transaction ends, and the
-- join's foreign keys are checked at its end, so a field or schema deleted at the same
-- moment either waits for this join (and is then refused) or makes it fail here.
-- params: tenant_id, join_id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key, join_type, auto_enrich, status
-- uses: data_schemas_pkey, schema_fields_pkey
WITH sides AS (
    SELECT s.side,
           d.name AS schema_name,
           EXISTS (SELECT 1
                     FROM schema_fields AS sf
                    WHERE sf.tenant_id = %(tenant_id)s
                      AND sf.schema_id = s.schema_id
                      AND sf.name      = s.key_name
                      FOR KEY SHARE) AS field_found
      FROM (VALUES (1, %(primary_schema_id)s::text, %(primary_key)s::text),
                   (2, %(foreign_schema_id)s::text, %(foreign_key)s::text)) AS s (side, schema_id, key_name)
      LEFT JOIN data_schemas AS d
             ON d.tenant_id = %(tenant_id)s
            AND d.id        = s.schema_id
),
j AS (
    INSERT INTO schema_joins (tenant_id, id, name, primary_schema_id, primary_key,
                              foreign_schema_id, foreign_key, join_type, auto_enrich, status)
    SELECT %(tenant_id)s, %(join_id)s, %(name)s, %(primary_schema_id)s, %(primary_key)s,
           %(foreign_schema_id)s, %(foreign_key)s, %(join_type)s, %(auto_enrich)s, %(status)s
     WHERE (SELECT bool_and(sides.schema_name IS NOT NULL AND sides.field_found) FROM sides)
    RETURNING id, tenant_id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key,
              join_type, auto_enrich, status, created_at, updated_at
)
SELECT s.side AS check_side,
       s.schema_name AS check_schema_name,
       s.field_found AS check_field_found,
       j.id,
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
  FROM sides AS s
  LEFT JOIN j
         ON s.side = 1
  LEFT JOIN data_schemas AS p
         ON p.tenant_id = %(tenant_id)s
        AND p.id        = j.primary_schema_id
  LEFT JOIN data_schemas AS f
         ON f.tenant_id = %(tenant_id)s
        AND f.id        = j.foreign_schema_id
 ORDER BY s.side;
