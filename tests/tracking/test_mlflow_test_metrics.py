"""The held-out test split's numbers reach MLflow once, as test_loss and test_<metric>."""

from __future__ import annotations

from pathlib import Path

from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.tracking.mlflow_callback import read_run_info


def _run(root: Path, **fields) -> dict:
    config = ExperimentConfig(
        experiment_name="tracked_test",
        model_plugin="simple_nn",
        dataset_plugin="iris",
        model_config={"hidden_dim": 8},
        training_config=TrainingConfig(epochs=2, batch_size=16, learning_rate=0.05),
        tracking={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "log_model": False},
        **fields,
    )
    settings = AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu", TRACKING=True)
    return Orchestrator(config, settings=settings).run_experiment()


def _metrics(results: dict) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    info = read_run_info(Path(results["run_dir"]))
    assert info is not None
    return MlflowClient(tracking_uri=info["tracking_uri"]).get_run(info["run_id"]).data.metrics


def test_test_metrics_are_logged_to_mlflow(tracking_workdir):
    results = _run(tracking_workdir, test_fraction=0.2)
    metrics = _metrics(results)
    assert metrics["test_loss"] == results["test_loss"]
    assert {f"test_{k}": v for k, v in results["test_metrics"].items()} == {
        k: v for k, v in metrics.items() if k.startswith("test_") and k != "test_loss"
    }
    assert set(results["test_metrics"]) == {"accuracy", "f1"}


def test_a_run_without_test_rows_logs_no_test_metrics(tracking_workdir):
    metrics = _metrics(_run(tracking_workdir))
    assert not [name for name in metrics if name.startswith("test_")]
