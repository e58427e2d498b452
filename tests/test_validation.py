"""Validation order and the two precise messages, on create and update."""
from __future__ import annotations

import pytest

from conftest import assert_error, valid_join


def test_unknown_primary_schema_is_named(tenant):
    response = tenant.call("POST", json=valid_join(primarySchemaId="sch_nope"))
    assert_error(response, 400, "BAD_REQUEST", "Schema sch_nope not found")


def test_unknown_primary_field_names_the_schema_by_internal_name(tenant):
    response = tenant.call("POST", json=valid_join(primaryKey="customerId"))
    assert_error(response, 400, "BAD_REQUEST", 'Field "customerId" not found in schema "customers"')


def test_foreign_side_is_checked_with_the_same_messages(tenant):
    assert_error(tenant.call("POST", json=valid_join(foreignSchemaId="sch_gone")), 400, "BAD_REQUEST",
                 "Schema sch_gone not found")
    assert_error(tenant.call("POST", json=valid_join(foreignKey="balance")), 400, "BAD_REQUEST",
                 'Field "balance" not found in schema "accounts"')


def test_field_names_match_exactly_and_case_sensitively(tenant):
    assert_error(tenant.call("POST", json=valid_join(primaryKey="Customer_ID")), 400, "BAD_REQUEST",
                 'Field "Customer_ID" not found in schema "customers"')


def test_primary_side_is_reported_before_foreign_and_schema_before_field(tenant):
    body = valid_join(primarySchemaId="sch_p", primaryKey="nope", foreignSchemaId="sch_f", foreignKey="nope")
    assert_error(tenant.call("POST", json=body), 400, "BAD_REQUEST", "Schema sch_p not found")
    body = valid_join(primaryKey="nope", foreignSchemaId="sch_f")
    assert_error(tenant.call("POST", json=body), 400, "BAD_REQUEST",
                 'Field "nope" not found in schema "customers"')


def test_body_errors_come_before_schema_checks(tenant):
    body = valid_join(primarySchemaId="sch_nope", autoEnrich="yes")
    error = assert_error(tenant.call("POST", json=body), 400, "BAD_REQUEST")
    assert list(error["details"]) == ["autoEnrich"]


@pytest.mark.parametrize("field", ["name", "primarySchemaId", "primaryKey", "foreignSchemaId", "foreignKey"])
def test_missing_required_field_is_named(tenant, field):
    error = assert_error(tenant.call("POST", json=valid_join(**{field: ...})), 400, "BAD_REQUEST")
    assert error["details"] == {field: ["Missing data for required field."]}
    assert field in error["message"]


def test_nothing_is_stored_when_validation_fails(tenant):
    tenant.call("POST", json=valid_join(foreignKey="nope"))
    assert tenant.list() == []


# -- update ------------------------------------------------------------------------------------

def test_update_of_an_unknown_id_answers_404_before_validating_sides(tenant):
    response = tenant.call("PUT", json={"id": "sj_missing", "primarySchemaId": "sch_nope"})
    assert_error(response, 404, "NOT_FOUND", "Schema join sj_missing not found")


def test_update_body_errors_come_before_the_404(tenant):
    error = assert_error(tenant.call("PUT", json={"id": "sj_missing", "status": "paused"}), 400, "BAD_REQUEST")
    assert list(error["details"]) == ["status"]


def test_update_without_id_is_refused(tenant):
    error = assert_error(tenant.call("PUT", json={"name": "x"}), 400, "BAD_REQUEST")
    assert error["details"] == {"id": ["Missing data for required field."]}


def test_update_with_no_updatable_field_answers_400(tenant):
    join = tenant.create()
    assert_error(tenant.call("PUT", json={"id": join["id"]}), 400, "BAD_REQUEST", "No fields to update")
    # Owned fields alone are ignored, so they do not count as an update either.
    response = tenant.call("PUT", json={"id": join["id"], "createdAt": "2020-01-01T00:00:00.000Z"})
    assert_error(response, 400, "BAD_REQUEST", "No fields to update")


def test_update_with_only_an_id_that_does_not_exist_answers_404(tenant):
    assert_error(tenant.call("PUT", json={"id": "sj_missing"}), 404, "NOT_FOUND", "Schema join sj_missing not found")


def test_new_schema_is_checked_against_the_stored_key(tenant):
    join = tenant.create()  # customers.customer_id -> accounts.customer_id
    response = tenant.call("PUT", json={"id": join["id"], "foreignSchemaId": "sch_customers"})
    assert response.status_code == 200  # customers also has customer_id
    response = tenant.call("PUT", json={"id": join["id"], "primarySchemaId": "sch_accounts", "primaryKey": "email"})
    assert_error(response, 400, "BAD_REQUEST", 'Field "email" not found in schema "accounts"')
    response = tenant.call("PUT", json={"id": join["id"], "primaryKey": "account_id"})
    assert_error(response, 400, "BAD_REQUEST", 'Field "account_id" not found in schema "customers"')


def test_update_validates_primary_before_foreign(tenant):
    join = tenant.create()
    response = tenant.call("PUT", json={"id": join["id"], "primaryKey": "nope", "foreignSchemaId": "sch_nope"})
    assert_error(response, 400, "BAD_REQUEST", 'Field "nope" not found in schema "customers"')


def test_update_applies_only_the_given_fields(tenant):
    join = tenant.create(joinType="inner", autoEnrich=True)
    response = tenant.call("PUT", json={"id": join["id"], "foreignSchemaId": "sch_events", "status": "inactive"})
    assert response.status_code == 200
    updated = response.get_json()
    assert updated["foreignSchemaId"] == "sch_events"
    assert updated["foreignKey"] == "customer_id"
    assert updated["foreignSchemaName"] == "events"
    assert (updated["name"], updated["joinType"], updated["autoEnrich"], updated["status"]) == (
        join["name"], "inner", True, "inactive")
    assert tenant.list() == [updated]


def test_update_can_set_auto_enrich_back_to_false(tenant):
    join = tenant.create(autoEnrich=True)
    response = tenant.call("PUT", json={"id": join["id"], "autoEnrich": False})
    assert response.get_json()["autoEnrich"] is False


def test_sending_the_stored_sides_again_is_not_a_change(tenant):
    join = tenant.create()
    body = {key: join[key] for key in ("id", "primarySchemaId", "primaryKey", "foreignSchemaId", "foreignKey")}
    body["name"] = "same sides"
    response = tenant.call("PUT", json=body)
    assert response.status_code == 200
    assert response.get_json()["name"] == "same sides"


@pytest.mark.parametrize("field,value", [
    ("name", None), ("name", ""), ("primaryKey", None), ("joinType", "Left"), ("joinType", "outer"),
    ("status", "ACTIVE"), ("status", "deleted"), ("autoEnrich", "false"), ("foreignSchemaId", 42),
])
def test_update_refuses_bad_values_for_every_field(tenant, field, value):
    join = tenant.create()
    error = assert_error(tenant.call("PUT", json={"id": join["id"], field: value}), 400, "BAD_REQUEST")
    assert list(error["details"]) == [field]
    assert tenant.list() == [join]
