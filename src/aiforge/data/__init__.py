"""Rows into batches: loading a dataset plugin, fitting preprocessing on the train split, batching."""
