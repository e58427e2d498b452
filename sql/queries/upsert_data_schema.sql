-- upsert_data_schema
-- Register a schema of a tenant, or update its names.
-- params: tenant_id, schema_id, name, display_name
-- uses: data_schemas_pkey
INSERT INTO data_schemas AS d (tenant_id, id, name, display_name)
VALUES (%(tenant_id)s, %(schema_id)s, %(name)s, %(display_name)s)
ON CONFLICT (tenant_id, id) DO UPDATE
   SET name         = EXCLUDED.name,
       display_name = EXCLUDED.display_name,
       updated_at   = now()
 WHERE d.tenant_id = %(tenant_id)s;
