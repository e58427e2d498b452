"""The resource shape, defaults, owned fields and ordering of CONTRACT.md."""
from __future__ import annotations

import json
import re

import pytest

from conftest import assert_error, register_schemas, valid_join

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SHAPE = ["id", "tenantId", "name", "primarySchemaId", "primaryKey", "foreignSchemaId", "foreignKey",
         "joinType", "autoEnrich", "status", "createdAt", "updatedAt", "primarySchemaName", "foreignSchemaName"]


def assert_join_shape(join: dict) -> None:
    assert list(join) == SHAPE
    assert TIMESTAMP.match(join["createdAt"]) and TIMESTAMP.match(join["updatedAt"])


def test_create_answers_201_with_the_whole_join_and_its_defaults(tenant):
    response = tenant.call("POST", json=valid_join(name="Customer accounts"))
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    join = response.get_json()
    assert_join_shape(join)
    assert join["id"].startswith("sj_")
    assert join["tenantId"] == tenant.id
    assert (join["joinType"], join["autoEnrich"], join["status"]) == ("left", False, "active")
    assert join["createdAt"] == join["updatedAt"]
    assert (join["primarySchemaName"], join["foreignSchemaName"]) == ("Customers", "Accounts")


def test_create_keeps_explicit_values(tenant):
    join = tenant.create(joinType="inner", autoEnrich=True, status="inactive")
    assert (join["joinType"], join["autoEnrich"], join["status"]) == ("inner", True, "inactive")


def test_name_is_trimmed_and_limited_to_255_characters(tenant):
    assert tenant.create(name="  spaced out \t")["name"] == "spaced out"
    assert tenant.create(name=" " + "n" * 255 + " ")["name"] == "n" * 255
    error = assert_error(tenant.call("POST", json=valid_join(name="n" * 256)), 400, "BAD_REQUEST")
    assert error["details"] == {"name": ["Must be at most 255 characters."]}
    error = assert_error(tenant.call("POST", json=valid_join(name="   ")), 400, "BAD_REQUEST")
    assert error["details"] == {"name": ["Must not be blank."]}


def test_ids_are_generated_unique_and_never_taken_from_the_client(tenant):
    first = tenant.create(id="sj_chosen_by_client")
    second = tenant.create(id="sj_chosen_by_client")
    assert first["id"] != "sj_chosen_by_client" and second["id"] != "sj_chosen_by_client"
    assert first["id"] != second["id"]


def test_owned_fields_sent_on_create_are_ignored(tenant, other_tenant):
    join = tenant.create(tenantId=other_tenant.id, createdAt="2001-01-01T00:00:00.000Z",
                         updatedAt="2001-01-01T00:00:00.000Z", primarySchemaName="Fake",
                         foreignSchemaName="Fake")
    assert join["tenantId"] == tenant.id
    assert not join["createdAt"].startswith("2001")
    assert join["primarySchemaName"] == "Customers"
    assert other_tenant.list() == []


def test_a_row_read_from_get_can_be_sent_back_to_put(tenant):
    tenant.create()
    row = tenant.list()[0]
    row["status"] = "inactive"
    response = tenant.call("PUT", json=row)
    assert response.status_code == 200, response.get_json()
    updated = response.get_json()
    assert updated["status"] == "inactive"
    assert updated["createdAt"] == row["createdAt"]
    assert updated["updatedAt"] >= row["updatedAt"]


def test_unknown_fields_are_refused_by_name(tenant):
    error = assert_error(tenant.call("POST", json=valid_join(colour="blue")), 400, "BAD_REQUEST")
    assert error["details"] == {"colour": ["Unknown field."]}
    assert "colour" in error["message"]
    join = tenant.create()
    error = assert_error(tenant.call("PUT", json={"id": join["id"], "rightJoin": True}), 400, "BAD_REQUEST")
    assert error["details"] == {"rightJoin": ["Unknown field."]}


@pytest.mark.parametrize("join_type", ["right", "full", "RIGHT", "right ", "Full  Outer"])
def test_right_and_full_joins_are_refused_with_advice_to_swap_sides(tenant, join_type):
    error = assert_error(tenant.call("POST", json=valid_join(joinType=join_type)), 400, "BAD_REQUEST")
    assert "swap" in error["details"]["joinType"][0]
    assert '"left", "inner"' in error["details"]["joinType"][0]


@pytest.mark.parametrize("value", ["true", 1, 0, None, "false", [True]])
def test_auto_enrich_takes_only_a_json_boolean(tenant, value):
    error = assert_error(tenant.call("POST", json=valid_join(autoEnrich=value)), 400, "BAD_REQUEST")
    assert list(error["details"]) == ["autoEnrich"]


@pytest.mark.parametrize("field", ["name", "primarySchemaId", "primaryKey", "foreignSchemaId", "foreignKey"])
def test_strings_with_nul_are_refused(tenant, field):
    error = assert_error(tenant.call("POST", json=valid_join(**{field: "a\u0000b"})), 400, "BAD_REQUEST")
    assert error["details"] == {field: ["Must not contain NUL characters."]}


@pytest.mark.parametrize("field", ["primarySchemaId", "primaryKey", "foreignSchemaId", "foreignKey"])
def test_ids_longer_than_255_characters_are_refused(tenant, field):
    error = assert_error(tenant.call("POST", json=valid_join(**{field: "x" * 256})), 400, "BAD_REQUEST")
    assert error["details"] == {field: ["Must be at most 255 characters."]}


def test_list_is_newest_first_with_ties_broken_by_id_descending(tenant, db):
    joins = [tenant.create(name=f"join {n}") for n in range(4)]
    # Two joins created in the same millisecond: the id decides.
    db.execute("UPDATE schema_joins SET created_at = '2026-01-10T08:00:00.000Z' WHERE tenant_id = %s AND id = ANY(%s)",
               (tenant.id, [joins[0]["id"], joins[1]["id"]]))
    listed = tenant.list()
    tied = sorted([joins[0]["id"], joins[1]["id"]], reverse=True)
    assert [row["id"] for row in listed] == [joins[3]["id"], joins[2]["id"], *tied]
    assert listed[-1]["createdAt"] == "2026-01-10T08:00:00.000Z"
    for row in listed:
        assert_join_shape(row)


def test_a_list_longer_than_one_encoding_batch_is_one_array_of_every_join_in_order(tenant, db):
    from joins.store import LIST_BATCH  # noqa: PLC0415

    count = 2 * LIST_BATCH + 7
    tenant.create()
    db.execute(
        "INSERT INTO schema_joins (tenant_id, id, name, primary_schema_id, primary_key, foreign_schema_id,"
        "                          foreign_key, created_at)"
        " SELECT %s, 'sj_bulk_' || lpad(n::text, 5, '0'), 'bulk ' || n, 'sch_customers', 'customer_id',"
        "        'sch_accounts', 'customer_id', timestamptz '2026-01-01' + n * interval '1 second'"
        "   FROM generate_series(1, %s) AS n",
        (tenant.id, count - 1),
    )
    response = tenant.call("GET", role="viewer")
    assert response.status_code == 200
    listed = json.loads(response.get_data())
    assert len(listed) == count
    assert [row["name"] for row in listed[1:]] == [f"bulk {n}" for n in range(count - 1, 0, -1)]
    assert listed[0]["name"] == "Customer accounts"
    assert len({row["id"] for row in listed}) == count
    for row in (listed[0], listed[LIST_BATCH - 1], listed[LIST_BATCH], listed[-1]):
        assert_join_shape(row)


def test_list_of_a_tenant_without_joins_is_an_empty_array(tenant):
    response = tenant.call("GET", role="viewer")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == []


def test_schema_names_fall_back_to_internal_name_then_unknown(tenant, db):
    join = tenant.create(primarySchemaId="sch_events", primaryKey="customer_id")
    assert join["primarySchemaName"] == "events"  # no display name: the internal name
    db.execute("UPDATE data_schemas SET name = '', display_name = NULL WHERE tenant_id = %s AND id = 'sch_events'",
               (tenant.id,))
    assert tenant.list()[0]["primarySchemaName"] == "Unknown"


def test_every_operation_returns_the_same_join_shape(tenant):
    created = tenant.create()
    listed = tenant.list()[0]
    updated = tenant.call("PUT", json={"id": created["id"], "name": "renamed"}).get_json()
    deleted = tenant.call("DELETE", query=f"?id={created['id']}").get_json()
    for join in (created, listed, updated, deleted["deleted"]):
        assert_join_shape(join)
    assert deleted == {"success": True, "deleted": updated}
    assert tenant.list() == []


@pytest.mark.parametrize("alphabet", ["\u4e00", "\U00020000"], ids=["3-byte characters", "4-byte characters"])
def test_the_longest_names_and_ids_the_api_accepts_are_stored(database_url, tenant, alphabet):
    """255 characters of multi-byte text in every id and the name still fit every index."""
    def text(seed: int) -> str:
        return "".join(chr(ord(alphabet) + (seed * 255 + i) % 5000) for i in range(255))

    primary = {"id": text(1), "name": "wide", "displayName": None, "fields": [text(2)]}
    foreign = {"id": text(3), "name": text(4), "displayName": text(5), "fields": [text(6)]}
    register_schemas(database_url, tenant.id, primary, foreign)
    body = valid_join(name=text(7), primarySchemaId=primary["id"], primaryKey=primary["fields"][0],
                      foreignSchemaId=foreign["id"], foreignKey=foreign["fields"][0])
    response = tenant.call("POST", json=body)
    assert response.status_code == 201, response.get_json()
    join = response.get_json()
    assert (join["name"], join["foreignSchemaName"]) == (text(7), text(5))
    response = tenant.call("PUT", json={"id": join["id"], "name": text(8)})
    assert response.status_code == 200, response.get_json()
    assert tenant.list()[0]["name"] == text(8)
