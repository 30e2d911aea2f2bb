"""Your own texts: a CSV/TSV or Parquet file with a text column and a label column."""
