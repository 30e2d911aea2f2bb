"""Every backend logs per-step values on one x axis, the optimizer step (trainer.global_step),
also under gradient accumulation; MLflow's resume keeps every waiting per-step value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from backend_runs import csv_rows

from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.tracking import mlflow_callback
from aiforge.tracking.mlflow_callback import read_run_info
from aiforge.utils.callbacks import Callback

EPOCHS = 3  # iris: 120 training rows, 8 batches of 16 per epoch


def _config(tmp_path: Path, **training: Any) -> ExperimentConfig:
    return ExperimentConfig(
        experiment_name="axis",
        model_plugin="simple_nn",
        dataset_plugin="iris",
        model_config={"hidden_dim": 8},
        training_config=TrainingConfig(epochs=EPOCHS, batch_size=16, learning_rate=0.05, **training),
        tracking={
            "backends": ["mlflow", "csv"],
            "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "log_every_n_steps": 2,
            "log_model": False,
        },
    )


def _settings(tmp_path: Path) -> AppSettings:
    return AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=True)


def _history(run_dir: Path, key: str) -> list[int]:
    from mlflow.tracking import MlflowClient

    info = read_run_info(run_dir)
    assert info is not None
    return sorted(m.step for m in MlflowClient(info["tracking_uri"]).get_metric_history(info["run_id"], key))


def test_mlflow_and_csv_log_step_values_at_the_same_optimizer_steps(tracking_workdir, monkeypatch):
    monkeypatch.setattr("aiforge.tracking.run_values.lr_per_step", lambda config: True)
    config = _config(tracking_workdir, gradient_accumulation_steps=2)  # 4 optimizer steps per epoch
    results = Orchestrator(config, settings=_settings(tracking_workdir)).run_experiment()
    run_dir = Path(results["run_dir"])
    steps = list(range(2, EPOCHS * 4 + 1, 2))  # every 2nd of 12 optimizer steps
    assert _history(run_dir, "step_train_loss") == steps
    assert [int(row["step"]) for row in csv_rows(run_dir) if row["step_train_loss"]] == steps
    assert _history(run_dir, "step_lr") == list(range(1, EPOCHS * 4 + 1))


class StopAfterSecondEpoch(Callback):
    """Interrupts after epoch 2's metrics were logged, before its checkpoint (which comes last)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1:
            raise KeyboardInterrupt


def test_step_lrs_not_yet_sent_at_a_hard_crash_are_sent_by_the_resume(tracking_workdir, monkeypatch):
    """Killed before anything reached MLflow: the checkpoint of epoch 1 holds its waiting step
    losses and step LRs, and the resume sends both; the per-step LR history has no gap."""
    monkeypatch.setattr("aiforge.tracking.run_values.lr_per_step", lambda config: True)
    monkeypatch.setattr(mlflow_callback, "METRICS_FLUSH_INTERVAL_S", 3600.0)
    config = _config(tracking_workdir)
    with monkeypatch.context() as dying:  # nothing reaches MLflow, as if the process were killed
        dying.setattr(mlflow_callback.MLflowCallback, "_flush_metrics", lambda self: None)
        with pytest.raises(KeyboardInterrupt):
            Orchestrator(
                config, settings=_settings(tracking_workdir), callbacks=[StopAfterSecondEpoch()]
            ).run_experiment()
    (run_dir,) = (tracking_workdir / "results" / "axis").iterdir()
    assert _history(run_dir, "step_lr") == []
    Orchestrator.from_run_dir(run_dir, settings=_settings(tracking_workdir)).run_experiment()
    assert _history(run_dir, "step_lr") == list(range(1, EPOCHS * 8 + 1))
    assert _history(run_dir, "step_train_loss") == list(range(2, EPOCHS * 8 + 1, 2))


def test_an_older_checkpoint_s_waiting_step_losses_still_load():
    callback = mlflow_callback.MLflowCallback("x")
    callback.load_state_dict({"run_id": "r", "batches_seen": 8, "unsent_steps": [[4, 0.5, 1000]]})
    assert callback._unsent_steps == [("step_train_loss", 4, 0.5, 1000)]  # (key, step, value, time)
