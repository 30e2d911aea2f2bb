"""A tracking store that fails after the run started costs the tracking, never the run: one warning
naming the store, no library tracebacks on stderr, exit 0 with every file written. A plain HTTP
server that is not MLflow is refused before the run starts."""

from __future__ import annotations

import functools
import http.server
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiforge.cli import main
from aiforge.tracking import mlflow_callback
from aiforge.tracking import store_check as tracking_store
from aiforge.tracking.mlflow_callback import read_run_info
from aiforge.utils.callbacks import Callback
from plugin_builders import tiny_experiment

USAGE = 2
LOCKED = "(sqlite3.OperationalError) database is locked"


@pytest.fixture
def workdir(tracking_workdir: Path) -> Path:
    """The tracking tests' working directory (see conftest.tracking_workdir), with a 3-epoch config."""
    config = tiny_experiment("tracked")
    config["training_config"]["epochs"] = 3
    (tracking_workdir / "exp.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return tracking_workdir


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    from log_capture import logged_messages

    yield from logged_messages("WARNING")


def cli(*argv: str) -> int:
    try:
        return main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def the_run_dir(root: Path) -> Path:
    (run_dir,) = (root / "results" / "tracked").iterdir()
    return run_dir


def assert_quiet_stderr(err: str) -> None:
    """No library traceback or MLflow ERROR line reached the terminal."""
    assert "Traceback" not in err, err
    assert "ERROR mlflow" not in err and "[SQL:" not in err, err
    assert "MLFLOW_HTTP_REQUEST" not in err, err


# -- MLflow fails after the run started ---------------------------------------------------------
class FailingStore:
    """The calls the store refused, and the switch that makes it refuse them."""

    def __init__(self) -> None:
        self.refused: list[str] = []
        self.locked = threading.Event()


@pytest.fixture
def store_fails_after_epoch_1(monkeypatch: pytest.MonkeyPatch) -> FailingStore:
    """From the first metrics of epoch 2 on, every write to the SQL store raises what a locked
    SQLite file raises (and every later store call too); the calls refused are listed."""
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = FailingStore()
    refused, locked = store.refused, store.locked

    def guarded(name: str, original: Any) -> Any:
        @functools.wraps(original)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            metrics = kwargs.get("metrics") or (args[1] if name == "log_batch" and len(args) > 1 else ())
            if name == "log_batch" and any(metric.step >= 2 for metric in metrics or ()):
                locked.set()
            if locked.is_set():
                refused.append(name)
                raise MlflowException(LOCKED)
            return original(self, *args, **kwargs)

        return call

    for name in (
        "log_batch",
        "set_tag",
        "update_run_info",
        "get_run",
        "get_experiment",
        "log_logged_model_params",
    ):
        monkeypatch.setattr(SqlAlchemyStore, name, guarded(name, getattr(SqlAlchemyStore, name)))
    monkeypatch.setattr(mlflow_callback, "METRICS_FLUSH_INTERVAL_S", 0.0)  # every epoch sent as it ends
    return store


def test_a_store_that_fails_mid_run_costs_only_the_tracking(
    workdir: Path, store_fails_after_epoch_1: FailingStore, warnings: list[str], capfd
) -> None:
    code = cli("run", "exp.yaml", "--results-dir", "results")
    err = capfd.readouterr().err
    assert code == 0, err
    assert store_fails_after_epoch_1.refused, "the store never refused a call: the test tests nothing"
    run_dir = the_run_dir(workdir)
    assert (run_dir / "final_results.json").is_file() and (run_dir / "final_model.pt").is_file()
    tracking = [message for message in warnings if "MLflow" in message]
    assert len(tracking) == 1, warnings
    assert str(workdir / "mlflow.db") in tracking[0] and "database is locked" in tracking[0]
    assert_quiet_stderr(err)
    debug_log = (run_dir / "aiforge_debug.log").read_text()
    assert "Traceback" in debug_log and "database is locked" in debug_log  # the details are kept


def test_after_a_failure_the_run_is_not_tracked_further(
    workdir: Path, store_fails_after_epoch_1: FailingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the store failed, nothing more is sent (no minutes of retries per call), and the
    MLflow run is left as the store allows (here: the store refuses the FAILED status too)."""
    import mlflow

    store = store_fails_after_epoch_1
    late_uploads: list[str] = []
    log_artifact = mlflow.log_artifact

    def upload(path: str, *args: Any, **kwargs: Any) -> Any:
        if store.locked.is_set():
            late_uploads.append(path)
        return log_artifact(path, *args, **kwargs)

    monkeypatch.setattr(mlflow, "log_artifact", upload)
    assert cli("run", "exp.yaml", "--results-dir", "results") == 0
    assert store.refused and late_uploads == []
    assert mlflow.active_run() is None  # the fluent run is closed: a next run in this process can start
    assert set(store.refused) <= {"log_batch", "update_run_info"}, store.refused
    assert store.refused.count("update_run_info") == 1  # one try to mark it FAILED


def test_the_mlflow_run_is_marked_failed_when_the_store_takes_it(
    workdir: Path, store_fails_after_epoch_1: FailingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store refuses metrics and then takes the run's end: the MLflow run ends FAILED."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking import MlflowClient

    original = SqlAlchemyStore.update_run_info.__wrapped__  # type: ignore[attr-defined]
    monkeypatch.setattr(SqlAlchemyStore, "update_run_info", original)
    assert cli("run", "exp.yaml", "--results-dir", "results") == 0
    assert store_fails_after_epoch_1.refused
    store_fails_after_epoch_1.locked.clear()
    info = read_run_info(the_run_dir(workdir))
    assert info is not None
    assert MlflowClient(tracking_uri=info["tracking_uri"]).get_run(info["run_id"]).info.status == "FAILED"


class LockAtEpoch(Callback):
    """Takes an exclusive lock on the SQLite file when the first epoch ends, as another process
    would; holds it until the run has ended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connection: sqlite3.Connection | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.connection is None:
            self.connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.connection.execute("BEGIN EXCLUSIVE")  # returns once the lock is held

    def release(self) -> None:
        if self.connection is not None:
            self.connection.close()


def short_sqlite_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow waits 20 s per call for a locked SQLite file (a PRAGMA it sends): 100 ms here."""
    import sqlalchemy.sql
    from mlflow.store.db import utils as db_utils

    class Sql:
        def __getattr__(self, name: str) -> Any:
            return getattr(sqlalchemy.sql, name)

        @staticmethod
        def text(statement: str) -> Any:
            return sqlalchemy.sql.text(statement.replace("busy_timeout = 20000", "busy_timeout = 100"))

    monkeypatch.setattr(db_utils, "sql", Sql())


def test_a_sqlite_store_locked_mid_run_costs_only_the_tracking(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, warnings: list[str], capfd
) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    from aiforge.config.model_configs import ExperimentConfig
    from aiforge.config.settings import AppSettings
    from aiforge.core.orchestrator import Orchestrator

    short_sqlite_waits(monkeypatch)
    monkeypatch.setattr(mlflow_callback, "METRICS_FLUSH_INTERVAL_S", 0.0)
    db = workdir / "mlflow.db"
    raw = yaml.safe_load((workdir / "exp.yaml").read_text())
    config = ExperimentConfig.model_validate({**raw, "tracking": {"tracking_uri": f"sqlite:///{db}"}})
    lock = LockAtEpoch(db)
    settings = AppSettings(RESULTS_DIR=workdir / "results", DEVICE="cpu", TRACKING=True)
    try:
        results = Orchestrator(config, settings=settings, callbacks=[lock]).run_experiment()
    finally:
        lock.release()
    assert lock.connection is not None
    run_dir = Path(results["run_dir"])
    assert (run_dir / "final_results.json").is_file()
    tracking = [message for message in warnings if "MLflow" in message]
    assert len(tracking) == 1 and str(db) in tracking[0] and "locked" in tracking[0], warnings
    assert_quiet_stderr(capfd.readouterr().err)
    # Still locked at the end: the MLflow run is left as it was, and closed in this process.
    assert mlflow.active_run() is None
    info = read_run_info(run_dir)
    assert info is not None
    assert MlflowClient(tracking_uri=info["tracking_uri"]).get_run(info["run_id"]).info.status == "RUNNING"


# -- the slow-call notice ---------------------------------------------------------------------
def test_a_slow_sqlite_call_names_the_database_file(tmp_path: Path, warnings: list[str]) -> None:
    said = threading.Event()
    from aiforge.runtime.log import logger

    sink = logger.add(lambda _: said.set(), level="WARNING")
    try:
        with tracking_store.slow_notice("Ending the MLflow run", f"sqlite:///{tmp_path / 'm.db'}", after_s=0):
            assert said.wait(60)
    finally:
        logger.remove(sink)
    (notice,) = warnings
    assert str(tmp_path / "m.db") in notice and "locked" in notice
    assert "MLFLOW_HTTP_REQUEST" not in notice


# -- a server that is not MLflow ------------------------------------------------------------------
@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[int]:
    """``python -m http.server`` in an empty folder: every API path, /health included, is a 404."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join()


def test_an_http_server_that_is_not_mlflow_is_refused(workdir: Path, file_server: int, capsys) -> None:
    uri = f"http://127.0.0.1:{file_server}"
    code = cli("run", "exp.yaml", "--results-dir", "results", "-o", f"tracking.tracking_uri={uri}")
    err = capsys.readouterr().err
    assert code == USAGE, err
    assert uri in err and "not an MLflow tracking server" in err and "GET /health returned 404" in err
    assert "Traceback" not in err
    assert not (workdir / "results").exists()
