"""MLflow tracking read back with MlflowClient: params, per-epoch metrics, artifacts, status, model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest

from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.tracking import mlflow_callback
from aiforge.tracking.mlflow_callback import MAX_PARAM_LENGTH, flatten, read_run_info
from aiforge.utils.callbacks import Callback

EPOCHS = 3


def tracked_config(tmp_path: Path, uri: str | None = None, **training: Any) -> ExperimentConfig:
    """Three epochs of iris (120 training rows, 8 batches per epoch), tracked to a SQLite file."""
    return ExperimentConfig(
        experiment_name="tracked",
        model_plugin="simple_nn",
        dataset_plugin="iris",
        model_config={"hidden_dim": 8},
        training_config=TrainingConfig(epochs=EPOCHS, batch_size=16, learning_rate=0.05, **training),
        tracking={
            "tracking_uri": uri or f"sqlite:///{tmp_path / 'mlflow.db'}",
            "tags": {"team": "qa"},
            "log_every_n_steps": 4,
        },
    )


def run_tracked(tmp_path: Path, config: ExperimentConfig, callbacks: list[Callback] | None = None):
    settings = AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=True)
    orchestrator = Orchestrator(config, settings=settings, callbacks=callbacks)
    return orchestrator, orchestrator.run_experiment()


def client_for(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def artifact_paths(client: Any, run_id: str, path: str = "") -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found.add(item.path)
        if item.is_dir:
            found |= artifact_paths(client, run_id, item.path)
    return found


def test_flatten_nests_lists_and_truncates():
    flat = flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x" * 2000})
    assert flat["a.b"] == "1" and flat["a.c"] == "[1, 2]"
    assert len(flat["d"]) == MAX_PARAM_LENGTH and flat["d"].endswith("...(truncated)")


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("sqlite")
    os.environ["AIFORGE_TRACKING"] = "true"
    cwd = os.getcwd()
    os.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts in ./mlruns
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            orchestrator, results = run_tracked(tmp_path, tracked_config(tmp_path))
    finally:
        os.environ["AIFORGE_TRACKING"] = "false"
        os.chdir(cwd)
    return tmp_path, orchestrator, results, [str(warning.message) for warning in caught]


def test_run_is_tracked_in_a_sqlite_store(sqlite_run):
    _, _, results, _ = sqlite_run
    info = read_run_info(Path(results["run_dir"]))
    assert info is not None
    client = client_for(info["tracking_uri"])
    run = client.get_run(info["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["training_config.epochs"] == str(EPOCHS)
    assert run.data.params["model_config.input_dim"] == "4"
    assert run.data.tags["team"] == "qa" and run.data.tags["aiforge.run_dir"] == results["run_dir"]
    history = client.get_metric_history(info["run_id"], "val_loss")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(1, EPOCHS + 1))
    assert len(client.get_metric_history(info["run_id"], "val_accuracy")) == EPOCHS
    steps = sorted(m.step for m in client.get_metric_history(info["run_id"], "step_train_loss"))
    assert steps == [4, 8, 12, 16, 20, 24]  # every 4th of 3 x 8 batches
    artifacts = artifact_paths(client, info["run_id"])
    assert {"config.yaml", "final_results.json", "metrics.csv", "environment.json"} <= artifacts
    assert "checkpoints/best.pt" in artifacts and "preprocessor.safetensors" in artifacts
    logged_models = client.search_logged_models(experiment_ids=[info["experiment_id"]])
    assert logged_models, "mlflow.pytorch.log_model logged no model"
    assert run.data.tags["aiforge.model_format"] == "pt2"  # a traced graph: loading runs no pickle


def test_logging_the_model_shows_users_no_library_warning(sqlite_run):
    # MLflow checks the input example through pyfunc, whose read-only array torch warns about.
    *_, caught = sqlite_run
    assert not [message for message in caught if "NumPy array is not writable" in message]


def test_pyfunc_model_predicts_raw_features_in_a_fresh_process(sqlite_run):
    _, orchestrator, results, _ = sqlite_run
    import torch

    info = read_run_info(Path(results["run_dir"]))
    raw = next(iter(orchestrator.raw_val_batches()))["features"][:7]
    with torch.no_grad():
        expected = orchestrator.inference_model()(raw).argmax(dim=1).tolist()
    script = (
        "import json, sys, mlflow, numpy as np, pandas as pd\n"
        f"mlflow.set_tracking_uri({info['tracking_uri']!r})\n"
        f"model = mlflow.pyfunc.load_model('runs:/{info['run_id']}/model')\n"
        "names = model.metadata.metadata['feature_names']\n"
        f"rows = pd.DataFrame({raw.double().tolist()!r}, columns=names)\n"
        "probs = np.asarray(model.predict(rows))\n"
        "one = np.asarray(model.predict(rows.iloc[:1]))\n"  # a single row too: the batch size is free
        "print(json.dumps([names, probs.argmax(axis=1).tolist(), one.argmax(axis=1).tolist()]))\n"
    )
    environment = {
        **os.environ,
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",  # MLflow refuses to unpickle anything
        "MLFLOW_DEFAULT_PREDICTION_DEVICE": "cpu",  # as on a machine with a GPU: the weights are CPU's
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=results["run_dir"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    names, predicted, single = json.loads(done.stdout.strip().splitlines()[-1])
    assert names == orchestrator.feature_names() and predicted == expected and single == expected[:1]


def test_a_model_torch_export_cannot_trace_is_pickled_with_a_warning(tmp_path, monkeypatch, warnings):
    from aiforge.tracking import mlflow_model

    problem = "torch.export cannot trace it (test)"
    monkeypatch.setattr(mlflow_model, "pt2_problem", lambda model, rows: problem)
    monkeypatch.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts in ./mlruns
    orchestrator, results = run_tracked(tmp_path, tracked_config(tmp_path))
    info = read_run_info(Path(results["run_dir"]))
    assert info is not None
    run = client_for(info["tracking_uri"]).get_run(info["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["aiforge.model_format"] == "pickle"
    assert any(f"The MLflow model is pickled: {problem}" in message for message in warnings)
    import mlflow
    import numpy as np
    import pandas as pd
    import torch

    mlflow.set_tracking_uri(info["tracking_uri"])
    model = mlflow.pyfunc.load_model(f"runs:/{info['run_id']}/model")
    raw = next(iter(orchestrator.raw_val_batches()))["features"][:4]
    rows = pd.DataFrame(raw.tolist(), columns=orchestrator.feature_names())
    with torch.no_grad():
        expected = orchestrator.inference_model()(raw).argmax(dim=1).tolist()
    assert np.asarray(model.predict(rows)).argmax(axis=1).tolist() == expected  # named columns


class Boom(Callback):
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"), [(RuntimeError("exploded at epoch 1"), "FAILED"), (KeyboardInterrupt(), "KILLED")]
)
def test_a_run_that_dies_ends_failed_or_killed(tmp_path, monkeypatch, error, status):
    """The epoch logged before the failure reaches MLflow, though it waited to be sent with others."""
    monkeypatch.setenv("AIFORGE_TRACKING", "true")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(mlflow_callback, "METRICS_FLUSH_INTERVAL_S", 3600.0)
    config = tracked_config(tmp_path)
    with pytest.raises(type(error)):
        run_tracked(tmp_path, config, callbacks=[Boom(error)])
    (run_dir,) = (tmp_path / "results" / "tracked").iterdir()
    info = read_run_info(run_dir)
    client = client_for(info["tracking_uri"])
    run = client.get_run(info["run_id"])
    assert run.info.status == status
    assert [m.step for m in client.get_metric_history(info["run_id"], "train_loss")] == [1]
    if status == "FAILED":
        assert "exploded at epoch 1" in run.data.tags["error"]


def count_metric_writes(monkeypatch) -> list[int]:
    """The number of metrics in each ``log_batch`` call that sends metrics, as calls happen."""
    from mlflow.tracking import MlflowClient

    writes: list[int] = []
    log_batch = MlflowClient.log_batch

    def counted(self, run_id, metrics=(), *args, **kwargs):
        if metrics:
            writes.append(len(metrics))
        return log_batch(self, run_id, metrics, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", counted)
    return writes


def tracking_with_interval(tmp_path, monkeypatch, seconds: float) -> list[int]:
    """Tracking on, run from ``tmp_path``, metrics sent every ``seconds``; the writes counted."""
    monkeypatch.setenv("AIFORGE_TRACKING", "true")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(mlflow_callback, "METRICS_FLUSH_INTERVAL_S", seconds)
    return count_metric_writes(monkeypatch)


def test_metrics_wait_no_longer_than_the_flush_interval(tmp_path, monkeypatch):
    """With the interval passed at every event, every epoch and step loss is sent as it comes."""
    writes = tracking_with_interval(tmp_path, monkeypatch, 0.0)
    orchestrator, _ = run_tracked(tmp_path, tracked_config(tmp_path))
    per_epoch = len(orchestrator.trainer.history[0]) - 1  # all but "epoch"
    assert writes == [1, 1, per_epoch] * EPOCHS  # steps 4 and 8 of each epoch's 8 batches, the epoch


def test_metrics_of_fast_epochs_reach_mlflow_together(tmp_path, monkeypatch):
    """Epochs shorter than the flush interval: one store write for all of them, every value kept."""
    writes = tracking_with_interval(tmp_path, monkeypatch, 3600.0)
    orchestrator, _ = run_tracked(tmp_path, tracked_config(tmp_path))
    info = read_run_info(orchestrator.run_dir)
    client = client_for(info["tracking_uri"])
    history = orchestrator.trainer.history
    for name in ("train_loss", "val_loss", "val_accuracy", "lr"):
        logged = client.get_metric_history(info["run_id"], name)
        assert [(m.step, m.value) for m in logged] == [(row["epoch"], row[name]) for row in history]
    steps = client.get_metric_history(info["run_id"], "step_train_loss")
    assert [m.step for m in steps] == list(range(4, EPOCHS * 8 + 1, 4))
    # One write, when training ended: every epoch's values (all but "epoch") and the step losses.
    assert writes == [sum(len(row) - 1 for row in history) + len(steps)]


def test_without_step_logging_the_tracker_has_no_per_batch_work():
    import torch

    from aiforge.config.model_configs import TrainingConfig
    from aiforge.tracking.mlflow_callback import MLflowCallback
    from aiforge.training.trainer import Trainer

    quiet, stepping = MLflowCallback("x"), MLflowCallback("x", log_every_n_steps=10)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, optimizer, TrainingConfig(), torch.device("cpu"), None, [quiet, stepping])
    assert trainer._batch_callbacks == [stepping]


def test_tracking_off_in_the_config_writes_no_run_info(tmp_path, monkeypatch):
    monkeypatch.setenv("AIFORGE_TRACKING", "true")
    monkeypatch.chdir(tmp_path)
    base = tracked_config(tmp_path)
    config = base.model_copy(update={"tracking": base.tracking.model_copy(update={"enabled": False})})
    config = ExperimentConfig.model_validate(config.model_dump(by_alias=True))
    _, results = run_tracked(tmp_path, config)
    assert read_run_info(Path(results["run_dir"])) is None
    assert not (tmp_path / "mlflow.db").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_mlflow_server(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """An MLflow server on a free port, and its URI once it answers.

    The port is free when chosen, but another process may take it before the server binds it
    (two CI jobs on one machine): then the server exits, and the next try takes another port.
    The 300 s a start may take only stop a hang (on a busy machine one took over a minute).
    """
    for attempt in range(5):
        deadline = time.monotonic() + 300
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{tmp_path / f'server{attempt}.db'}",
                "--artifacts-destination",
                str(tmp_path / "artifacts"),
                "--workers",
                "1",
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        uri = f"http://127.0.0.1:{port}"
        while server.poll() is None:  # it exits when its port was taken meanwhile
            if _healthy(uri) and server.poll() is None:
                return server, uri
            if time.monotonic() > deadline:
                stop(server)
                pytest.fail("mlflow server did not answer within 300 s")
            time.sleep(0.5)
    pytest.fail("mlflow server exited at start 5 times")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.mark.slow
def test_cli_run_tracked_to_a_real_mlflow_server(tmp_path):
    server, uri = start_mlflow_server(tmp_path)
    try:
        env = {**os.environ, "AIFORGE_TRACKING": "true", "AIFORGE_MLFLOW_TRACKING_URI": uri}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "aiforge",
                "run",
                "--example",
                "seed_simple_nn",
                "-o",
                "training_config.epochs=2",
                "-o",
                "tracking.log_model=false",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        (run_dir,) = (tmp_path / "results" / "simple_nn_classification_experiment").iterdir()
        info = read_run_info(run_dir)
        assert info["tracking_uri"] == uri
        client = client_for(uri)
        run = client.get_run(info["run_id"])
        assert run.info.status == "FINISHED"
        assert run.data.params["training_config.epochs"] == "2"
        assert len(client.get_metric_history(info["run_id"], "train_loss")) == 2
        assert "final_results.json" in artifact_paths(client, info["run_id"])
    finally:
        stop(server)


def test_step_losses_not_yet_sent_at_a_hard_crash_are_sent_by_the_resume(tmp_path, monkeypatch):
    """A process killed before it sent anything: the checkpoint holds the step losses that were
    waiting, and the resume sends them (epochs are sent again from the history)."""
    tracking_with_interval(tmp_path, monkeypatch, 3600.0)
    with monkeypatch.context() as dying:  # nothing reaches MLflow, as if the process were killed
        dying.setattr(mlflow_callback.MLflowCallback, "_flush_metrics", lambda self: None)
        with pytest.raises(KeyboardInterrupt):
            run_tracked(tmp_path, tracked_config(tmp_path), callbacks=[StopAfterSecondEpoch()])
    (run_dir,) = (tmp_path / "results" / "tracked").iterdir()
    info = read_run_info(run_dir)
    client = client_for(info["tracking_uri"])
    assert client.get_metric_history(info["run_id"], "step_train_loss") == []

    settings = AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=True)
    Orchestrator.from_run_dir(run_dir, settings=settings).run_experiment()
    steps = [m.step for m in client.get_metric_history(info["run_id"], "step_train_loss")]
    assert sorted(steps) == list(range(4, EPOCHS * 8 + 1, 4))  # 4 and 8 from the checkpoint of epoch 1
    for metric in ("train_loss", "val_loss"):
        assert sorted(m.step for m in client.get_metric_history(info["run_id"], metric)) == [1, 2, 3]


class StopAfterSecondEpoch(Callback):
    """Interrupts after epoch 2's metrics were logged, before its checkpoint (which comes last)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1:
            raise KeyboardInterrupt


def test_a_resumed_run_continues_the_same_mlflow_run_without_duplicates(tmp_path, monkeypatch):
    """Interrupted after epoch 2 was logged but before its checkpoint: the resume redoes epoch 2
    and logs nothing twice, in the same MLflow run (the Python API's resume)."""
    monkeypatch.setenv("AIFORGE_TRACKING", "true")
    monkeypatch.chdir(tmp_path)
    config = tracked_config(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_tracked(tmp_path, config, callbacks=[StopAfterSecondEpoch()])
    (run_dir,) = (tmp_path / "results" / "tracked").iterdir()
    info = read_run_info(run_dir)
    client = client_for(info["tracking_uri"])
    assert client.get_run(info["run_id"]).info.status == "KILLED"

    settings = AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=True)
    results = Orchestrator.from_run_dir(run_dir, settings=settings).run_experiment()

    assert results["run_dir"] == str(run_dir) and results["epochs_completed"] == EPOCHS
    assert read_run_info(run_dir)["run_id"] == info["run_id"]  # no second MLflow run
    run = client.get_run(info["run_id"])
    assert run.info.status == "FINISHED"
    assert [len(client.search_runs([run.info.experiment_id]))] == [1]
    for metric in ("train_loss", "val_loss", "val_accuracy"):
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, metric)) == [1, 2, 3]
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "step_train_loss")]
    assert sorted(steps) == list(range(4, 3 * 8 + 1, 4))  # every 4th of 24 batches, once each
