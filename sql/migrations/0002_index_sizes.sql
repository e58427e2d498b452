-- Indexes every storable join fits in, and that the planner uses as their names say.
--
-- A btree entry holds at most 2704 bytes. Ids and names are up to 255 characters, up to 1020
-- bytes each in UTF-8, so an index may carry at most two of them beside small columns:
-- - the list index is (tenant_id, created_at): small, so the planner prefers it to the
--   primary key for a tenant's rows (in order, or as a bitmap and a sort of just those rows);
-- - the indexes behind ON DELETE RESTRICT (a field or schema delete looks up the joins that
--   use it) hold exactly the three columns of schema_fields' own primary key, so any field
--   that could be registered fits them.
-- Those two lead with the schema id rather than the tenant: they serve only the RESTRICT
-- checks, which give all three columns, and no longer compete with the list index for a
-- tenant's rows. (Leading with tenant_id they were, deduplicated, the smallest index on the
-- tenant's rows, and the planner read the list through them and sorted.)
--
-- Built CONCURRENTLY so that writes go on during the build on a large table; that cannot run
-- inside a transaction, hence transactional: false. An interrupted build leaves an INVALID
-- index: drop it and run `migrate` again.
-- transactional: false
-- depends: 0001_initial

CREATE INDEX CONCURRENTLY IF NOT EXISTS schema_joins_list_idx
    ON schema_joins (tenant_id, created_at DESC);

DROP INDEX CONCURRENTLY IF EXISTS schema_joins_tenant_created_idx;

CREATE INDEX CONCURRENTLY IF NOT EXISTS schema_joins_primary_field_ref_idx
    ON schema_joins (primary_schema_id, primary_key, tenant_id);

CREATE INDEX CONCURRENTLY IF NOT EXISTS schema_joins_foreign_field_ref_idx
    ON schema_joins (foreign_schema_id, foreign_key, tenant_id);

DROP INDEX CONCURRENTLY IF EXISTS schema_joins_primary_field_idx;

DROP INDEX CONCURRENTLY IF EXISTS schema_joins_foreign_field_idx;
