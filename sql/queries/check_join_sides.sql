-- check_join_sides
-- For the primary (side 1) and foreign (side 2) side of a join: the schema's internal name
-- (NULL when the tenant has no such schema) and whether the key field is registered on it.
-- The fields found are locked (KEY SHARE) until the transaction ends, so they cannot be
-- deleted between this check and the write that references them.
-- params: tenant_id, primary_schema_id, primary_key, foreign_schema_id, foreign_key
-- uses: data_schemas_pkey, schema_fields_pkey
SELECT s.side,
       d.name AS schema_name,
       EXISTS (SELECT 1
                 FROM schema_fields AS f
                WHERE f.tenant_id = %(tenant_id)s
                  AND f.schema_id = s.schema_id
                  AND f.name      = s.key_name
                  FOR KEY SHARE) AS field_found
  FROM (VALUES (1, %(primary_schema_id)s::text, %(primary_key)s::text),
               (2, %(foreign_schema_id)s::text, %(foreign_key)s::text)) AS s (side, schema_id, key_name)
  LEFT JOIN data_schemas AS d
         ON d.tenant_id = %(tenant_id)s
        AND d.id        = s.schema_id
 ORDER BY s.side;
