"""Experiment trackers: which ones a run gets (MLflow, TensorBoard, CSV, W&B), their shared
failure rule, and MLflow's model and store checks."""
