-- The schema-joins tables.
--
-- Every primary and foreign key leads with tenant_id, so each tenant's rows are one
-- contiguous range of every index and the tables can be distributed by tenant (Citus)
-- without changing a key.
--
-- Integrity of joins: a join references its two key fields through foreign keys to
-- schema_fields, so PostgreSQL itself refuses to store a join whose schema or field does not
-- exist at commit time. A concurrent delete of a field (or of its schema, which cascades to
-- the fields) either commits first, and the join's insert fails its foreign-key check, or
-- waits for the join's transaction and then fails on ON DELETE RESTRICT: a field in use by
-- a join cannot be removed, so no join is ever left pointing at nothing. The service also
-- takes a KEY SHARE lock on the fields while it validates them (check_join_sides.sql), so
-- the precise validation message it returns is the one that holds at commit.

CREATE TABLE api_keys (
    tenant_id   text        NOT NULL,
    id          text        NOT NULL,
    -- SHA-256 of the raw key; the key itself is shown once and never stored.
    digest      bytea       NOT NULL,
    role        text        NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    name        text        NOT NULL DEFAULT '',
    created_at  timestamptz(3) NOT NULL DEFAULT now(),
    expires_at  timestamptz(3),
    revoked_at  timestamptz(3),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_keys_id_key UNIQUE (id),
    CONSTRAINT api_keys_digest_key UNIQUE (digest)
);

CREATE TABLE data_schemas (
    tenant_id    text NOT NULL,
    id           text NOT NULL,
    name         text NOT NULL,
    display_name text,
    created_at   timestamptz(3) NOT NULL DEFAULT now(),
    updated_at   timestamptz(3) NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE schema_fields (
    tenant_id  text NOT NULL,
    schema_id  text NOT NULL,
    name       text NOT NULL,
    data_type  text,
    PRIMARY KEY (tenant_id, schema_id, name),
    FOREIGN KEY (tenant_id, schema_id)
        REFERENCES data_schemas (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE schema_joins (
    tenant_id         text    NOT NULL,
    id                text    NOT NULL,
    name              text    NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    primary_schema_id text    NOT NULL,
    primary_key       text    NOT NULL,
    foreign_schema_id text    NOT NULL,
    foreign_key       text    NOT NULL,
    join_type         text    NOT NULL DEFAULT 'left' CHECK (join_type IN ('left', 'inner')),
    auto_enrich       boolean NOT NULL DEFAULT false,
    status            text    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    -- Millisecond precision, the precision clients are shown, so that ordering by
    -- (created_at, id) is the order a client can reproduce from what it sees.
    created_at        timestamptz(3) NOT NULL DEFAULT now(),
    updated_at        timestamptz(3) NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT schema_joins_primary_field_fkey
        FOREIGN KEY (tenant_id, primary_schema_id, primary_key)
        REFERENCES schema_fields (tenant_id, schema_id, name)
        ON UPDATE RESTRICT ON DELETE RESTRICT,
    CONSTRAINT schema_joins_foreign_field_fkey
        FOREIGN KEY (tenant_id, foreign_schema_id, foreign_key)
        REFERENCES schema_fields (tenant_id, schema_id, name)
        ON UPDATE RESTRICT ON DELETE RESTRICT
);

-- The list: one tenant's joins, newest first.
CREATE INDEX schema_joins_tenant_created_idx
    ON schema_joins (tenant_id, created_at DESC, id DESC);

-- The RESTRICT checks when a field or schema is deleted look joins up by the referenced key.
CREATE INDEX schema_joins_primary_field_idx
    ON schema_joins (tenant_id, primary_schema_id, primary_key);
CREATE INDEX schema_joins_foreign_field_idx
    ON schema_joins (tenant_id, foreign_schema_id, foreign_key);

-- The one timestamp format of the API: ISO 8601, UTC, milliseconds, 'Z'.
CREATE FUNCTION api_timestamp(ts timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
