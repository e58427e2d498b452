DROP FUNCTION api_timestamp(timestamptz);
DROP TABLE schema_joins;
DROP TABLE schema_fields;
DROP TABLE data_schemas;
DROP TABLE api_keys;
