-- The list reads every column of one tenant's joins in (created_at, id) order. With a
-- tenant's rows scattered over the heap, the planner read them through whichever index
-- leading with tenant_id was smallest and sorted, so schema_joins_tenant_created_idx went
-- unused. This index carries the listed columns too: the list becomes an index-only scan
-- (no heap visit for pages the visibility map marks all-visible), already in order.
--
-- Built CONCURRENTLY so that writes go on during the build on a large table; that cannot
-- run inside a transaction, hence transactional: false. If a build is interrupted it leaves
-- an INVALID index: drop it and run `migrate` again.
-- transactional: false
-- depends: 0001_initial

CREATE INDEX CONCURRENTLY IF NOT EXISTS schema_joins_list_idx
    ON schema_joins (tenant_id, created_at DESC, id DESC)
    INCLUDE (name, primary_schema_id, primary_key, foreign_schema_id, foreign_key,
             join_type, auto_enrich, status, updated_at);

DROP INDEX CONCURRENTLY IF EXISTS schema_joins_tenant_created_idx;
