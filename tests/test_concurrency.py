"""A join is never stored pointing at a schema or field deleted at the same moment."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest

from conftest import assert_error, valid_join
from joins import service

DELETE_FIELD = "DELETE FROM schema_fields WHERE tenant_id = %s AND schema_id = 'sch_accounts' AND name = %s"
DELETE_SCHEMA = "DELETE FROM data_schemas WHERE tenant_id = %s AND id = 'sch_accounts'"


def _add_field(db, tenant_id: str, name: str) -> None:
    db.execute("INSERT INTO schema_fields (tenant_id, schema_id, name) VALUES (%s, 'sch_accounts', %s)",
               (tenant_id, name))


def _dangling_joins(db, tenant_id: str) -> int:
    return db.execute(
        """SELECT count(*) FROM schema_joins AS j
            WHERE j.tenant_id = %s
              AND NOT EXISTS (SELECT 1 FROM schema_fields AS f
                               WHERE f.tenant_id = j.tenant_id AND f.schema_id = j.foreign_schema_id
                                 AND f.name = j.foreign_key)""", (tenant_id,)).fetchone()[0]


def test_create_racing_a_field_delete_never_leaves_a_dangling_join(app, tenant, db, database_url):
    outcomes = {"join won": 0, "delete won": 0}
    for round_number in range(30):
        field = f"race_{round_number}"
        _add_field(db, tenant.id, field)
        barrier = threading.Barrier(2)
        result: dict = {}

        def create() -> None:
            client = app.test_client()
            barrier.wait()
            result["response"] = client.post("/api/v1/schema-joins", json=valid_join(foreignKey=field),
                                             headers={"X-API-Key": tenant.keys["editor"]})

        def delete() -> None:
            with psycopg.connect(database_url, autocommit=True) as conn:
                barrier.wait()
                try:
                    result["deleted"] = conn.execute(DELETE_FIELD, (tenant.id, field)).rowcount == 1
                except psycopg.errors.ForeignKeyViolation:
                    result["deleted"] = False

        threads = [threading.Thread(target=create), threading.Thread(target=delete)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        response = result["response"]
        if response.status_code == 201:
            # The join committed first: the field had to survive.
            assert result["deleted"] is False
            outcomes["join won"] += 1
        else:
            assert_error(response, 400, "BAD_REQUEST", f'Field "{field}" not found in schema "accounts"')
            assert result["deleted"] is True
            outcomes["delete won"] += 1
        assert _dangling_joins(db, tenant.id) == 0
    assert sum(outcomes.values()) == 30


def test_create_waits_for_an_uncommitted_field_delete_and_then_refuses(app, tenant, database_url):
    with psycopg.connect(database_url, autocommit=True) as db:
        _add_field(db, tenant.id, "doomed")
    with psycopg.connect(database_url) as deleter:
        deleter.execute(DELETE_FIELD, (tenant.id, "doomed"))  # uncommitted: row locked
        result: dict = {}

        def create() -> None:
            result["response"] = app.test_client().post(
                "/api/v1/schema-joins", json=valid_join(foreignKey="doomed"),
                headers={"X-API-Key": tenant.keys["editor"]})

        thread = threading.Thread(target=create)
        thread.start()
        time.sleep(0.3)
        assert "response" not in result  # blocked on the row lock, not answered from a stale read
        deleter.commit()
        thread.join(timeout=10)
    assert_error(result["response"], 400, "BAD_REQUEST", 'Field "doomed" not found in schema "accounts"')
    assert tenant.list() == []


@pytest.mark.parametrize("statement", [DELETE_FIELD, DELETE_SCHEMA])
def test_a_field_or_schema_delete_waits_for_an_uncommitted_join_and_then_fails(app, tenant, database_url, statement):
    with psycopg.connect(database_url, autocommit=True) as db:
        _add_field(db, tenant.id, "kept")
    with psycopg.connect(database_url) as writer:
        join = service.create_join(writer, tenant_id=tenant.id, spec={
            **valid_join(foreignKey="kept"), "joinType": "left", "autoEnrich": False, "status": "active"})
        result: dict = {}

        def delete() -> None:
            with psycopg.connect(database_url, autocommit=True) as conn:
                params = (tenant.id, "kept") if statement == DELETE_FIELD else (tenant.id,)
                try:
                    conn.execute(statement, params)
                    result["outcome"] = "deleted"
                except psycopg.errors.ForeignKeyViolation:
                    result["outcome"] = "refused"

        thread = threading.Thread(target=delete)
        thread.start()
        time.sleep(0.3)
        assert "outcome" not in result  # blocked by the KEY SHARE lock of the join's foreign key check
        writer.commit()
        thread.join(timeout=10)
    assert result["outcome"] == "refused"
    assert [row["id"] for row in tenant.list()] == [join["id"]]


def test_an_invalid_create_inside_a_callers_transaction_raises_the_constraint_error(tenant, database_url):
    # The API's connections are autocommit, where the service names the failing side. A caller
    # holding its own transaction gets the foreign key's error (its transaction can run nothing
    # more), and nothing is stored.
    with psycopg.connect(database_url) as writer:
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as raised:
            service.create_join(writer, tenant_id=tenant.id, spec={
                **valid_join(foreignKey="missing"), "joinType": "left", "autoEnrich": False, "status": "active"})
        assert raised.value.diag.constraint_name == "schema_joins_foreign_field_fkey"
    assert tenant.list() == []
