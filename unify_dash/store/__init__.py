"""The DuckDB store: schema, connection, transactions, clock."""
