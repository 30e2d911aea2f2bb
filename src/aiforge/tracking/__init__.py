"""Experiment trackers: which one a run gets, and the MLflow callback, model and store checks."""
