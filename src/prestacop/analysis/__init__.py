"""Analysis tools over the log and the views: Parquet export, terminal charts (server install)."""
