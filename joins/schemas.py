"""Marshmallow schemas for request bodies and query arguments.

Types are strict: a JSON string for strings, a JSON boolean for booleans. Strings must be
storable by PostgreSQL (no NUL, no unpaired surrogate) and non-blank. Fields the service owns
are dropped before validation so a row read from GET can be sent back to PUT.
"""
from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

MAX_TEXT = 255
JOIN_TYPES = ("left", "inner")
STATUSES = ("active", "inactive")
ROLES = ("viewer", "editor", "admin")

# Set by the service, never taken from a client (tenantId comes from the credentials).
OWNED_FIELDS = ("tenantId", "createdAt", "updatedAt", "primarySchemaName", "foreignSchemaName")


def storable_text(value: Any, *, trim: bool = False, max_length: int = MAX_TEXT) -> str:
    """Return `value` as a non-blank string PostgreSQL can store, or raise ValidationError."""
    if not isinstance(value, str):
        raise ValidationError("Not a valid string.")
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Must not contain unpaired surrogates.") from None
    if trim:
        value = value.strip()
    if not value.strip():
        raise ValidationError("Must not be blank.")
    if len(value) > max_length:
        raise ValidationError(f"Must be at most {max_length} characters.")
    return value


class Text(fields.Field):
    """A JSON string: non-blank, at most 255 characters, optionally trimmed."""

    def __init__(self, *, trim: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trim = trim

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return storable_text(value, trim=self.trim)


class Choice(Text):
    """A string from a fixed set, matched exactly (case-sensitive)."""

    def __init__(self, choices: tuple[str, ...], *, hint: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = choices
        self.hint = hint or {}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        if value not in self.choices:
            allowed = ", ".join(f'"{choice}"' for choice in self.choices)
            message = f"Must be one of {allowed}."
            extra = self.hint.get(" ".join(value.lower().split()))
            raise ValidationError(f"{message} {extra}" if extra else message)
        return value


class StrictBoolean(fields.Field):
    """A JSON true or false; "true", 1 and the like are refused."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean: send true or false.")
        return value


_SWAP_HINT = "Right and full joins are not supported: swap primarySchemaId/primaryKey with foreignSchemaId/foreignKey and use \"left\"."
_JOIN_TYPE_HINTS = {"right": _SWAP_HINT, "full": _SWAP_HINT, "outer": _SWAP_HINT, "full outer": _SWAP_HINT}


class _Body(Schema):
    """Common rules of the JSON bodies: unknown fields refused, owned fields ignored."""

    class Meta:
        unknown = RAISE

    ignored: tuple[str, ...] = OWNED_FIELDS

    @pre_load
    def drop_owned_fields(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if key not in self.ignored}


class CreateJoin(_Body):
    ignored = OWNED_FIELDS + ("id",)

    name = Text(required=True, trim=True)
    primarySchemaId = Text(required=True)
    primaryKey = Text(required=True)
    foreignSchemaId = Text(required=True)
    foreignKey = Text(required=True)
    joinType = Choice(JOIN_TYPES, hint=_JOIN_TYPE_HINTS, load_default="left")
    autoEnrich = StrictBoolean(load_default=False)
    status = Choice(STATUSES, load_default="active")


class UpdateJoin(_Body):
    id = Text(required=True)
    name = Text(trim=True)
    primarySchemaId = Text()
    primaryKey = Text()
    foreignSchemaId = Text()
    foreignKey = Text()
    joinType = Choice(JOIN_TYPES, hint=_JOIN_TYPE_HINTS)
    autoEnrich = StrictBoolean()
    status = Choice(STATUSES)


class SchemaFieldSpec(Schema):
    class Meta:
        unknown = RAISE

    name = Text(required=True)
    dataType = Text(load_default=None, allow_none=True)


class SchemaSpec(Schema):
    """One entry of the `schemas load` file."""

    class Meta:
        unknown = RAISE

    id = Text(required=True)
    name = Text(required=True)
    displayName = Text(load_default=None, allow_none=True)
    fieldSpecs = fields.List(fields.Nested(SchemaFieldSpec), required=True, data_key="fields")


CREATE_JOIN = CreateJoin()
UPDATE_JOIN = UpdateJoin()
SCHEMA_SPECS = SchemaSpec(many=True)
