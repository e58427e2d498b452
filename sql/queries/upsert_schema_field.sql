-- upsert_schema_field
-- Register a field of a tenant's schema, or update its data type.
-- params: tenant_id, schema_id, name, data_type
-- uses: schema_fields_pkey
INSERT INTO schema_fields AS f (tenant_id, schema_id, name, data_type)
VALUES (%(tenant_id)s, %(schema_id)s, %(name)s, %(data_type)s)
ON CONFLICT (tenant_id, schema_id, name) DO UPDATE
   SET data_type = EXCLUDED.data_type
 WHERE f.tenant_id = %(tenant_id)s;
