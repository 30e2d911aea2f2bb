"""Your own table: a CSV/TSV or Parquet file, one row per sample, one column the target."""
