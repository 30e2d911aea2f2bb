"""End to end: `aiforge run` with tracking.backends=[mlflow,tensorboard,csv] on the digits example
leaves TensorBoard events, the CSV file and the MLflow run, all with the run's own numbers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from backend_runs import assert_series, csv_rows, history, scalars

pytestmark = pytest.mark.slow


def test_three_backends_at_once_hold_the_same_numbers(tmp_path):
    db = tmp_path / "mlflow.db"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AIFORGE_", "MLFLOW_"))}
    env.update(AIFORGE_TRACKING="true", AIFORGE_LOG_LEVEL="INFO")
    command = [
        sys.executable, "-m", "aiforge", "run", "--example", "default",
        "--results-dir", str(tmp_path / "results"),
        "--no-progress", "-o", "training_config.epochs=2", "-o", "training_config.batch_size=256",
        "-o", "tracking.backends=[mlflow,tensorboard,csv]", "-o", f"tracking.tracking_uri=sqlite:///{db}",
        "-o", "tracking.log_model=false",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    [run_dir] = (tmp_path / "results" / "digits_mlp").iterdir()
    own = history(run_dir)
    assert len(own) == 2
    steps = [int(row["step"]) for row in csv_rows(run_dir) if row["train_loss"]]
    assert len(steps) == 2 and steps[1] == 2 * steps[0]
    logged = scalars(run_dir)
    csv_epochs = [row for row in csv_rows(run_dir) if row["train_loss"]]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    [experiment] = [e for e in client.search_experiments() if e.name == "digits_mlp"]
    [mlflow_run] = client.search_runs([experiment.experiment_id])
    for key in ("train_loss", "val_loss", "val_accuracy", "val_f1", "val_auroc"):
        expected = [float(row[key]) for row in own]
        assert_series(logged[key], list(zip(steps, expected, strict=True)))  # TensorBoard's own reader
        assert [float(row[key]) for row in csv_epochs] == expected
        metric = sorted(client.get_metric_history(mlflow_run.info.run_id, key), key=lambda m: m.step)
        assert [(m.step, m.value) for m in metric] == [(1, expected[0]), (2, expected[1])]


def test_a_per_step_one_cycle_schedule_is_logged_at_every_step_by_each_backend(tmp_path):
    """scheduler {OneCycleLR, interval: step}: every backend logs the LR each optimizer step used;
    it changes within an epoch, and follows torch's own OneCycleLR curve for the run's steps."""
    import torch

    db = tmp_path / "mlflow.db"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AIFORGE_", "MLFLOW_"))}
    env.update(AIFORGE_TRACKING="true")
    command = [
        sys.executable, "-m", "aiforge", "run", "--example", "default",
        "--results-dir", str(tmp_path / "results"), "--no-progress",
        "-o", "training_config.epochs=2", "-o", "training_config.batch_size=256",
        "-o", "training_config.early_stopping_patience=null",
        "-o", "training_config.scheduler={name: OneCycleLR, interval: step, args: {max_lr: 0.05}}",
        "-o", "tracking.backends=[mlflow,tensorboard,csv]", "-o", f"tracking.tracking_uri=sqlite:///{db}",
        "-o", "tracking.log_model=false",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    [run_dir] = (tmp_path / "results" / "digits_mlp").iterdir()
    steps_per_epoch = int(next(row for row in csv_rows(run_dir) if row["train_loss"])["step"])
    total = 2 * steps_per_epoch
    assert steps_per_epoch > 2
    # torch's own curve for a OneCycleLR of the run's real number of steps: the LR each step used.
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=0.002)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=total)
    curve = []
    for _ in range(total):
        curve.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if schedule.last_epoch < total - 1:
            schedule.step()
    expected = list(zip(range(1, total + 1), curve, strict=True))
    assert len({lr for _, lr in expected[:steps_per_epoch]}) == steps_per_epoch  # changes within epoch 1

    assert_series(scalars(run_dir)["step_lr"], expected)  # TensorBoard's own reader
    logged_csv = [(int(r["step"]), float(r["step_lr"])) for r in csv_rows(run_dir) if r["step_lr"]]
    assert_series(logged_csv, expected)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    [experiment] = [e for e in client.search_experiments() if e.name == "digits_mlp"]
    [mlflow_run] = client.search_runs([experiment.experiment_id])
    metric = sorted(client.get_metric_history(mlflow_run.info.run_id, "step_lr"), key=lambda m: m.step)
    assert_series([(m.step, m.value) for m in metric], expected)
