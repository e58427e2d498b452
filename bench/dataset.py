"""Fill a migrated schema-joins database with a realistic volume, set-based and fast.

Naming (the wrk scripts rely on it):
- regular tenants  t00000 .. t{N-1} (zero-padded to 5 digits); special tenants by name;
- schemas          sch_0 .. sch_{S-1} per tenant, fields f0 .. f{F-1} per schema;
- joins            sj_<tenant>_<m>, m = 0 .. (that tenant's joins - 1);
- delete pool      sj_del_<tenant>_<k> (added by add_delete_pool before a delete load).

Regular joins are spread evenly, `joins // tenants` per tenant. All joins are inserted in
created_at order, so each tenant's rows lie scattered over the table's pages, as they do
after months of traffic from many tenants, not in one contiguous run.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

import psycopg

KEY_ROLE = "editor"


@dataclass(frozen=True)
class Volume:
    tenants: int = 10_000
    schemas_per_tenant: int = 10
    fields_per_schema: int = 8
    joins: int = 1_000_000
    # Tenants outside the regular ones, each with exactly this many joins.
    special: dict[str, int] = field(default_factory=lambda: {"t_list100": 100, "t_list5000": 5_000})

    @property
    def joins_per_tenant(self) -> int:
        return self.joins // self.tenants if self.tenants else 0


def regular_tenant(index: int) -> str:
    return f"t{index:05d}"


# One row per tenant: its id and how many joins it gets.
_TENANTS_SQL = """
CREATE TEMP TABLE bench_tenants ON COMMIT DROP AS
SELECT 't' || lpad(i::text, 5, '0') AS tenant_id, %(per_tenant)s::int AS joins
  FROM generate_series(0, %(tenants)s::int - 1) AS i
UNION ALL
SELECT s.tenant_id, s.joins
  FROM unnest(%(special_ids)s::text[], %(special_joins)s::int[]) AS s (tenant_id, joins)
"""

_SCHEMAS_SQL = """
INSERT INTO data_schemas (tenant_id, id, name, display_name)
SELECT t.tenant_id, 'sch_' || s, 'schema_' || s,
       -- Some schemas have no display name, so the list's fallback is exercised.
       CASE WHEN s %% 4 = 3 THEN NULL ELSE 'Schema ' || s END
  FROM bench_tenants AS t
 CROSS JOIN generate_series(0, %(schemas)s::int - 1) AS s
"""

_FIELDS_SQL = """
INSERT INTO schema_fields (tenant_id, schema_id, name, data_type)
SELECT t.tenant_id, 'sch_' || s, 'f' || f, 'varchar'
  FROM bench_tenants AS t
 CROSS JOIN generate_series(0, %(schemas)s::int - 1) AS s
 CROSS JOIN generate_series(0, %(fields)s::int - 1) AS f
"""

# Foreign-key triggers are skipped while loading (session_replication_role = replica):
# every reference is built from the schemas and fields above, and check_references()
# proves it afterwards in one set-based pass instead of two lookups per row.
_JOINS_SQL = """
INSERT INTO schema_joins (tenant_id, id, name, primary_schema_id, primary_key, foreign_schema_id,
                          foreign_key, join_type, auto_enrich, status, created_at, updated_at)
SELECT tenant_id, 'sj_' || tenant_id || '_' || m, 'join ' || m,
       'sch_' || (m %% %(schemas)s), 'f' || (m %% %(fields)s),
       'sch_' || ((m + 1) %% %(schemas)s), 'f' || ((m + 3) %% %(fields)s),
       CASE WHEN m %% 4 = 0 THEN 'inner' ELSE 'left' END,
       m %% 2 = 0,
       CASE WHEN m %% 10 = 9 THEN 'inactive' ELSE 'active' END,
       created_at, created_at
  FROM (SELECT t.tenant_id, m,
               date_trunc('milliseconds',
                          timestamptz '2025-01-01 00:00:00+00' + random() * interval '365 days') AS created_at
          FROM bench_tenants AS t
         CROSS JOIN LATERAL generate_series(0, t.joins - 1) AS m) AS g
 ORDER BY created_at
"""

_CHECK_SQL = """
SELECT count(*)
  FROM schema_joins AS j
 WHERE NOT EXISTS (SELECT 1 FROM schema_fields AS f
                    WHERE f.tenant_id = j.tenant_id AND f.schema_id = j.primary_schema_id
                      AND f.name = j.primary_key)
    OR NOT EXISTS (SELECT 1 FROM schema_fields AS f
                    WHERE f.tenant_id = j.tenant_id AND f.schema_id = j.foreign_schema_id
                      AND f.name = j.foreign_key)
"""


def _digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode("utf-8")).digest()


def fill(conn: psycopg.Connection, volume: Volume, *, seed: float = 0.42) -> dict[str, str]:
    """Load `volume` into an empty, migrated database; return {tenant: raw API key (editor)}.

    Runs in the caller's transaction; the caller commits (and should then ANALYZE).
    """
    special_ids = list(volume.special)
    params = {
        "tenants": volume.tenants,
        "per_tenant": volume.joins_per_tenant,
        "special_ids": special_ids,
        "special_joins": [volume.special[t] for t in special_ids],
        "schemas": volume.schemas_per_tenant,
        "fields": volume.fields_per_schema,
    }
    conn.execute("SET LOCAL session_replication_role = replica")
    # The sort that puts joins in created_at order stays in memory.
    conn.execute("SET LOCAL work_mem = '512MB'")
    conn.execute("SELECT setseed(%s)", (seed,))
    conn.execute(_TENANTS_SQL, params)
    conn.execute(_SCHEMAS_SQL, params)
    conn.execute(_FIELDS_SQL, params)
    conn.execute(_JOINS_SQL, params)
    tenants = [regular_tenant(i) for i in range(volume.tenants)] + special_ids
    keys = {tenant: "krn_" + secrets.token_urlsafe(32) for tenant in tenants}
    with conn.cursor().copy("COPY api_keys (tenant_id, id, digest, role, name) FROM STDIN") as copy:
        for number, (tenant, raw) in enumerate(keys.items()):
            copy.write_row((tenant, f"key_bench_{number:06d}", _digest(raw), KEY_ROLE, "bench"))
    return keys


def check_references(conn: psycopg.Connection) -> None:
    """Fail when a loaded join names a field that does not exist (what the skipped FKs check)."""
    broken = conn.execute(_CHECK_SQL).fetchone()[0]
    if broken:
        raise RuntimeError(f"{broken} loaded joins reference missing fields")


def add_delete_pool(conn: psycopg.Connection, tenants: list[str], per_tenant: int) -> int:
    """Add per_tenant deletable joins sj_del_<tenant>_<k> for each tenant; return the count."""
    return conn.execute("""
        INSERT INTO schema_joins (tenant_id, id, name, primary_schema_id, primary_key,
                                  foreign_schema_id, foreign_key)
        SELECT t, 'sj_del_' || t || '_' || k, 'to delete ' || k, 'sch_0', 'f0', 'sch_1', 'f1'
          FROM unnest(%(tenants)s::text[]) AS t
         CROSS JOIN generate_series(0, %(per_tenant)s::int - 1) AS k
        ON CONFLICT (tenant_id, id) DO NOTHING""", {"tenants": tenants, "per_tenant": per_tenant}).rowcount


def drop_delete_pool(conn: psycopg.Connection, tenants: list[str]) -> int:
    """Remove what a delete load left of the pool, so the next load starts from the same table."""
    return conn.execute("""
        DELETE FROM schema_joins
         WHERE tenant_id = ANY(%(tenants)s::text[]) AND id LIKE 'sj\\_del\\_%%'""",
                        {"tenants": tenants}).rowcount
