"""schema-joins: join definitions between a tenant's registered data schemas."""
