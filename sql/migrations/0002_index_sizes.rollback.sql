-- transactional: false
CREATE INDEX CONCURRENTLY IF NOT EXISTS schema_joins_tenant_created_idx
    ON schema_joins (tenant_id, created_at DESC, id DESC);
DROP INDEX CONCURRENTLY IF EXISTS schema_joins_list_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS schema_joins_primary_field_idx
    ON schema_joins (tenant_id, primary_schema_id, primary_key);
CREATE INDEX CONCURRENTLY IF NOT EXISTS schema_joins_foreign_field_idx
    ON schema_joins (tenant_id, foreign_schema_id, foreign_key);
DROP INDEX CONCURRENTLY IF EXISTS schema_joins_primary_field_ref_idx;
DROP INDEX CONCURRENTLY IF EXISTS schema_joins_foreign_field_ref_idx;
