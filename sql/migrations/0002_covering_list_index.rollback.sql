-- transactional: false
CREATE INDEX CONCURRENTLY IF NOT EXISTS schema_joins_tenant_created_idx
    ON schema_joins (tenant_id, created_at DESC, id DESC);
DROP INDEX CONCURRENTLY IF EXISTS schema_joins_list_idx;
