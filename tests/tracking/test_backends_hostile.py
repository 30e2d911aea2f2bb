"""tracking.backends against a hostile run folder and environment: linked folders that point out of
the run, MLflow's copy of the other backends' files, W&B online with no credentials."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from backend_runs import backend_config, settings_for

from aiforge.core.orchestrator import Orchestrator
from aiforge.errors import ConfigError
from aiforge.tracking.tensorboard_tracker import TensorBoardTracker
from aiforge.utils.callbacks import Callback


@pytest.fixture(autouse=True)
def _fresh_wandb() -> Any:
    """W&B keeps the settings of its first ``init`` for the process: later tests get their own."""
    yield
    if "wandb" in sys.modules:
        sys.modules["wandb"].teardown()


def _linked_run_dir(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A run folder whose ``name`` subfolder is a link to a folder outside it."""
    run_dir, outside = tmp_path / "run", tmp_path / "outside"
    run_dir.mkdir()
    outside.mkdir()
    (run_dir / name).symlink_to(outside)
    return run_dir, outside


def test_tensorboard_never_writes_through_a_linked_folder(tmp_path, warnings):
    run_dir, outside = _linked_run_dir(tmp_path, "tensorboard")
    tracker = TensorBoardTracker()
    tracker.on_experiment_start(SimpleNamespace(run_dir=run_dir, trainer=None))  # type: ignore[arg-type]
    tracker.on_experiment_end(SimpleNamespace(run_dir=run_dir, trainer=None), "KILLED")  # type: ignore[arg-type]
    assert list(outside.iterdir()) == []
    assert tracker.failed
    assert any("TensorBoard tracking stopped" in m and "symbolic link" in m for m in warnings)


def test_wandb_never_writes_through_a_linked_folder(tmp_path, monkeypatch, warnings):
    pytest.importorskip("wandb")
    from aiforge.tracking.wandb_tracker import WandbTracker

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir, outside = _linked_run_dir(tmp_path, "wandb")
    orchestrator = SimpleNamespace(run_dir=run_dir, trainer=None, config=backend_config(["wandb"]))
    tracker = WandbTracker(project="backends")
    tracker.on_experiment_start(orchestrator)  # type: ignore[arg-type]
    tracker.on_experiment_end(orchestrator, "KILLED")  # type: ignore[arg-type]
    assert list(outside.iterdir()) == []
    assert any("W&B tracking stopped" in m and "symbolic link" in m for m in warnings)


class LinkOut(Callback):
    """Puts a link to a file outside the run into the run folder as the run starts."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def on_experiment_start(self, orchestrator: Any) -> None:
        (orchestrator.run_dir / "outside.txt").symlink_to(self.target)


def _artifacts(root: Path) -> dict[str, Path]:
    [artifacts] = root.glob("mlruns/*/*/artifacts")
    return {path.relative_to(artifacts).as_posix(): path for path in artifacts.rglob("*") if path.is_file()}


def test_mlflow_uploads_the_other_backends_files_whole_and_no_link(tmp_path, monkeypatch):
    """MLflow copies the run folder when the run ends: after TensorBoard wrote its last events (the
    hparams and figures), and without the files a link points to (outside the run, or twice)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    secret = tmp_path / "secret.txt"
    secret.write_text("not a run file")
    config = backend_config(
        ["mlflow", "tensorboard"], tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", log_model=False
    )
    results = Orchestrator(
        config, settings=settings_for(tmp_path), callbacks=[LinkOut(secret)]
    ).run_experiment()
    run_dir = Path(results["run_dir"])
    uploaded = _artifacts(tmp_path)
    assert "outside.txt" not in uploaded
    [events] = (run_dir / "tensorboard").iterdir()
    assert uploaded[f"tensorboard/{events.name}"].read_bytes() == events.read_bytes()


def test_online_wandb_without_credentials_is_refused_before_the_run(tmp_path, monkeypatch):
    """wandb.init would ask for a key at a terminal (and wait for the answer): exit 2 first."""
    pytest.importorskip("wandb")
    from aiforge.tracking.wandb_tracker import WandbTracker

    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc, no wandb settings
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="WANDB_MODE=offline") as refused:
        WandbTracker(project="backends").check_store()
    assert "wandb login" in str(refused.value)
    monkeypatch.setenv("WANDB_MODE", "offline")
    WandbTracker(project="backends").check_store()  # offline needs no key


def test_online_wandb_with_a_server_that_does_not_answer_tracks_offline(
    tmp_path, monkeypatch, refusing_port, warnings
):
    """wandb.init retries an unreachable server for minutes: the run tracks W&B offline instead."""
    pytest.importorskip("wandb")
    from aiforge.tracking.wandb_tracker import WandbTracker

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{refusing_port}")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.chdir(tmp_path)
    tracker = WandbTracker(project="backends")
    tracker.check_store()
    assert any("does not answer" in m and "tracks W&B offline" in m for m in warnings)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    orchestrator = SimpleNamespace(run_dir=run_dir, trainer=None, config=backend_config(["wandb"]))
    tracker.on_experiment_start(orchestrator)  # type: ignore[arg-type]
    tracker.on_experiment_end(orchestrator, "KILLED")  # type: ignore[arg-type]
    assert not tracker.failed
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
