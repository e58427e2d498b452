"""For DBAs: every query file's plan uses the index its header names, at a realistic size,
and every query filters by the tenant on every table it touches.

The plan tests load their own database with enough tenants and rows that a sequential scan
would win for any query whose index were missing, with each tenant's joins scattered over
the table (inserted in created_at order across tenants), as they are after months of traffic.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bench import dataset
from conftest import create_database, drop_database
from joins import sqlcli, store
from joins.migrations import migrate
from joins.queries import QUERIES, Query

# Modest on purpose (a few seconds to load): 800 tenants, 8,000 schemas, 64,000 fields,
# 48,000 joins, 800 keys. The plans below do not change shape as the volume grows.
VOLUME = dataset.Volume(tenants=800, joins=48_000, special={"t_plans_big": 1_000})
TENANT = dataset.regular_tenant(42)

# Key lookups made before the tenant is known; their headers say why (checked below).
NOT_TENANT_SCOPED = {
    "find_api_key": "cannot be tenant-scoped",
    "revoke_api_key": "unique across tenants",
}


@pytest.fixture(scope="module")
def plans_db(pg_server: str) -> Iterator[str]:
    name = f"schema_joins_plans_{os.getpid()}"
    url = create_database(pg_server, name)
    try:
        migrate(url)
        with psycopg.connect(url) as conn:
            dataset.fill(conn, VOLUME)
        with psycopg.connect(url, autocommit=True) as conn:
            dataset.check_references(conn)
            conn.execute("VACUUM (ANALYZE)")
        yield url
    finally:
        drop_database(pg_server, name)


@pytest.fixture
def plans_conn(plans_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(plans_db) as conn:
        yield conn


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def plan_indexes(plan: dict[str, Any]) -> set[str]:
    """Indexes the plan reads: scans of any kind and ON CONFLICT arbiters."""
    found: set[str] = set()
    for node in _nodes(plan):
        if "Index Name" in node:
            found.add(node["Index Name"])
        found.update(node.get("Conflict Arbiter Indexes", []))
    return found


def written_table(plan: dict[str, Any]) -> tuple[str, str] | None:
    """(operation, table) of the statement's ModifyTable node, if it writes."""
    for node in _nodes(plan):
        if node["Node Type"] == "ModifyTable":
            return node["Operation"], node["Relation Name"]
    return None


def index_roles(conn: psycopg.Connection, table: str) -> dict[str, set[str]]:
    """Indexes a write to `table` uses outside the plan: unique indexes it checks on insert,
    and the referenced keys its foreign-key triggers look up."""
    unique = {row[0] for row in conn.execute("""
        SELECT i.relname FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid
         WHERE x.indrelid = %s::regclass AND x.indisunique""", (table,))}
    referenced = {row[0] for row in conn.execute("""
        SELECT i.relname FROM pg_constraint AS c JOIN pg_class AS i ON i.oid = c.conindid
         WHERE c.conrelid = %s::regclass AND c.contype = 'f'""", (table,))}
    return {"unique": unique, "referenced": referenced}


def uses_outside_plan(conn: psycopg.Connection, query: Query, plan: dict[str, Any]) -> set[str]:
    """The header's indexes that a write relies on without a plan node naming them."""
    written = written_table(plan)
    if written is None:
        return set()
    operation, table = written
    roles = index_roles(conn, table)
    allowed = set(roles["referenced"]) if operation in {"Insert", "Update"} else set()
    if operation == "Insert":
        allowed |= roles["unique"]
    return allowed


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_plan_uses_the_indexes_its_header_names(plans_conn, name):
    query = QUERIES[name]
    params = sqlcli.realistic_params(plans_conn, query, TENANT)
    plan = sqlcli.explain(plans_conn, query, params, analyze=False, as_json=True)["Plan"]
    in_plan = plan_indexes(plan)
    elsewhere = uses_outside_plan(plans_conn, query, plan)
    missing = [index for index in query.uses if index not in in_plan and index not in elsewhere]
    assert not missing, (
        f"{name}: the plan does not use {missing} (its header's `uses:`); plan indexes: {sorted(in_plan)}"
    )
    for node in _nodes(plan):
        # A sequential scan of a table that holds every tenant's rows is the bug the header rules out.
        assert node["Node Type"] != "Seq Scan", f"{name}: sequential scan of {node.get('Relation Name')}"


def test_the_list_of_a_large_tenant_uses_the_list_index(plans_conn):
    query = QUERIES["list_schema_joins"]
    params = sqlcli.realistic_params(plans_conn, query, "t_plans_big")
    plan = sqlcli.explain(plans_conn, query, params, analyze=False, as_json=True)["Plan"]
    # In order, or (rows scattered over the heap, default random_page_cost) as a bitmap
    # read in page order and then sorted: either way only the tenant's rows are read.
    assert "schema_joins_list_idx" in plan_indexes(plan)
    assert all(node["Node Type"] != "Seq Scan" for node in _nodes(plan))


def test_explain_analyze_of_a_write_changes_nothing(plans_conn):
    query = QUERIES["delete_schema_join"]
    params = sqlcli.realistic_params(plans_conn, query, TENANT)
    before = plans_conn.execute("SELECT count(*) FROM schema_joins WHERE tenant_id = %s", (TENANT,)).fetchone()[0]
    lines = sqlcli.explain(plans_conn, query, params, analyze=True)
    assert any("actual time" in line for line in lines)
    after = plans_conn.execute("SELECT count(*) FROM schema_joins WHERE tenant_id = %s", (TENANT,)).fetchone()[0]
    assert after == before


def test_sql_explain_command_prints_the_plan_with_the_values_it_used(plans_db, make_app):
    app = make_app(DATABASE_URL=plans_db)
    result = app.test_cli_runner().invoke(args=["sql", "explain", "list_schema_joins", "--tenant", TENANT])
    assert result.exit_code == 0, result.output
    assert f"-- tenant_id = '{TENANT}'" in result.output
    assert "Buffers: shared" in result.output and "Execution Time" in result.output
    assert "-- uses: schema_joins_list_idx" in result.output


def test_sql_explain_command_rolls_back_writes(plans_db, make_app):
    app = make_app(DATABASE_URL=plans_db)
    with psycopg.connect(plans_db) as conn:
        count = conn.execute("SELECT count(*) FROM schema_joins").fetchone()[0]
    result = app.test_cli_runner().invoke(args=["sql", "explain", "create_schema_join", "--tenant", TENANT])
    assert result.exit_code == 0, result.output
    assert "rolled back" in result.output
    with psycopg.connect(plans_db) as conn:
        assert conn.execute("SELECT count(*) FROM schema_joins").fetchone()[0] == count


def test_sql_explain_command_refuses_unknown_query_names(plans_db, make_app):
    app = make_app(DATABASE_URL=plans_db)
    result = app.test_cli_runner().invoke(args=["sql", "explain", "drop_everything"])
    assert result.exit_code != 0
    assert "drop_everything" in result.output


# -- tenant scoping, read from the SQL text ----------------------------------------------------

_KEYWORDS = {"where", "left", "right", "inner", "join", "on", "set", "order", "returning", "values",
             "group", "limit", "for", "select", "union", "as", "using", "cross", "lateral", "full"}
_TABLE_REF = re.compile(r"\b(from|join|update|into)\s+([a-z_][a-z0-9_]*)(?:\s+(?:as\s+)?([a-z_][a-z0-9_]*))?",
                        re.IGNORECASE)
_CTE = re.compile(r"(?:\bwith|,)\s*([a-z_][a-z0-9_]*)\s+as\s*\(", re.IGNORECASE)
# VALUES (...) holds %(name)s placeholders, whose parentheses must not end the list.
_INSERT = re.compile(r"\binsert\s+into\s+[a-z_]+(?:\s+as\s+[a-z_]+)?\s*\(([^)]*)\)\s*"
                     r"values\s*\(((?:%\(\w+\)s|[^()])*)\)", re.IGNORECASE)


def _statement(query: Query) -> str:
    lines = (line.split("--", 1)[0] for line in query.sql.splitlines())
    return " ".join(" ".join(lines).split())


def table_references(text: str) -> list[tuple[str, str]]:
    """(table, the name its columns are qualified with) for every table the statement reads or writes."""
    ctes = {name.lower() for name in _CTE.findall(text)}
    refs = []
    for _, table, alias in _TABLE_REF.findall(text):
        if table.lower() in ctes or table.lower() in _KEYWORDS:
            continue
        qualifier = alias if alias and alias.lower() not in _KEYWORDS else ""
        refs.append((table, qualifier))
    return refs


def tenant_scoped(text: str, qualifier: str) -> bool:
    """Whether rows seen through `qualifier` are limited to %(tenant_id)s: by an equality on
    tenant_id, directly or through another reference's tenant_id that is, or (inserts) by the
    value given for the tenant_id column."""
    prefix = rf"\b{re.escape(qualifier)}\." if qualifier else r"(?<![\w.])"
    own = rf"{prefix}tenant_id"
    if re.search(rf"{own}\s*=\s*%\(tenant_id\)s|%\(tenant_id\)s\s*=\s*{own}", text):
        return True
    for other in re.findall(rf"{own}\s*=\s*(\w+)\.tenant_id", text):
        if other != qualifier and tenant_scoped(text, other):
            return True
    return False


# INSERT ... SELECT <values> WHERE ...: the values are placeholders, so no comma hides inside one.
_INSERT_SELECT = re.compile(r"\binsert\s+into\s+[a-z_]+(?:\s+as\s+[a-z_]+)?\s*\(([^)]*)\)\s*"
                            r"select\s+(.*?)\s+(?:where|from|returning)\b", re.IGNORECASE)


def insert_scoped(text: str) -> bool:
    match = _INSERT.search(text) or _INSERT_SELECT.search(text)
    if not match:
        return False
    columns = [c.strip() for c in match.group(1).split(",")]
    values = [v.strip() for v in match.group(2).split(",")]
    return "tenant_id" in columns and values[columns.index("tenant_id")] == "%(tenant_id)s"


@pytest.mark.parametrize("name", sorted(set(QUERIES) - set(NOT_TENANT_SCOPED)))
def test_every_query_filters_by_tenant_on_every_table(name):
    query = QUERIES[name]
    text = _statement(query)
    refs = table_references(text)
    assert refs, f"{name}: found no table in the statement"
    for table, qualifier in refs:
        is_insert_target = re.search(rf"\binsert\s+into\s+{table}\b", text, re.IGNORECASE) is not None
        scoped = insert_scoped(text) if is_insert_target else tenant_scoped(text, qualifier)
        assert scoped, f"{name}: {table} {qualifier} is not filtered by %(tenant_id)s"


@pytest.mark.parametrize("name", sorted(NOT_TENANT_SCOPED))
def test_the_exceptions_are_key_lookups_whose_headers_say_why(name):
    query = QUERIES[name]
    assert "tenant_id" not in query.params
    assert NOT_TENANT_SCOPED[name] in query.doc
    assert [table for table, _ in table_references(_statement(query))] == ["api_keys"]


def test_the_tenant_check_catches_a_query_without_the_tenant():
    unscoped = ("SELECT j.id FROM schema_joins AS j LEFT JOIN data_schemas AS p "
                "ON p.id = j.primary_schema_id WHERE j.tenant_id = %(tenant_id)s")
    refs = dict((qualifier, table) for table, qualifier in table_references(unscoped))
    assert refs == {"j": "schema_joins", "p": "data_schemas"}
    assert tenant_scoped(unscoped, "j")
    assert not tenant_scoped(unscoped, "p")
    joined = unscoped.replace("ON p.id", "ON p.tenant_id = j.tenant_id AND p.id")
    assert tenant_scoped(joined, "p")


def test_a_query_that_drifts_from_the_api_shape_is_refused(database_url):
    # store builds API objects from the columns by position: a join query file whose columns
    # drifted would fill the wrong fields, so its first use fails instead.
    with psycopg.connect(database_url, autocommit=True) as conn, pytest.raises(RuntimeError, match="expected"):
        store._execute_joins(conn, "check_join_sides", {
            "tenant_id": "t", "primary_schema_id": "a", "primary_key": "b", "foreign_schema_id": "c", "foreign_key": "d"})
