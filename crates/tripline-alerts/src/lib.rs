//! Alert documents shaped like Elastic's, terminal table, NDJSON, HTML report, SQLite alert store
