"""The MLflow store is checked before a run folder is made: a bad URI, an unreachable or hung
server, a missing folder, a corrupted or locked SQLite file each fail in seconds with exit 2 and a
message naming the URI or file, and leave nothing behind. Two first runs may create one SQLite
store at the same time."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from aiforge.cli import main
from aiforge.config import tracking_uris
from aiforge.config.model_configs import TrackingConfig
from aiforge.errors import ConfigError
from aiforge.tracking import store_check as tracking_store
from plugin_builders import tiny_experiment

USAGE = 2
CONFIG = tiny_experiment("tracked")


@pytest.fixture
def workdir(tracking_workdir: Path) -> Path:
    """The tracking tests' working directory (see conftest.tracking_workdir)."""
    (tracking_workdir / "exp.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    return tracking_workdir


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers HTTP."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def run(*overrides: str) -> int:
    argv = ["run", "exp.yaml", "--results-dir", "results"]
    for pair in overrides:
        argv += ["-o", pair]
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


def assert_refused(code: int, err: str, *needles: str, root: Path) -> None:
    assert code == USAGE, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in:\n{err}"
    assert "Traceback" not in err
    assert not (root / "results").exists(), list((root / "results").rglob("*"))


# -- URIs are checked with the config --------------------------------------------------------
BAD_URIS = ["garbage://x", "http://[::1", "http://", "https://host:notaport", "sqlite://x.db", ""]


@pytest.mark.parametrize("uri", BAD_URIS)
def test_a_bad_tracking_uri_is_a_config_error(uri: str) -> None:
    with pytest.raises(ValueError, match="tracking_uri"):
        TrackingConfig(tracking_uri=uri)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:5000",
        "https://mlflow.example.com/prefix",
        "sqlite:///mlflow.db",
        "sqlite:////tmp/x.db",
        "postgresql+psycopg2://user:secret@db/mlflow",
        "file:///tmp/mlruns",
        "mlruns",
        "databricks",
        "databricks://profile",
    ],
)
def test_good_tracking_uris_pass(uri: str) -> None:
    assert TrackingConfig(tracking_uri=uri).tracking_uri == uri


@pytest.mark.parametrize("uri", ["garbage://x", "http://[::1"])
def test_bad_uri_override_exits_2_before_any_folder(uri: str, workdir: Path, capsys) -> None:
    code = run(f"tracking.tracking_uri={uri}")
    assert_refused(code, capsys.readouterr().err, "tracking.tracking_uri", uri, root=workdir)


def test_bad_uri_in_the_environment_exits_2(workdir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIFORGE_MLFLOW_TRACKING_URI", "garbage://x")
    code = run()
    assert_refused(code, capsys.readouterr().err, "AIFORGE_MLFLOW_TRACKING_URI", "garbage://x", root=workdir)


def test_passwords_are_not_shown() -> None:
    assert "secret" not in tracking_uris.redact("postgresql://user:secret@db/mlflow")
    assert tracking_uris.redact("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


# -- servers ---------------------------------------------------------------------------------
def test_unreachable_server_exits_2_in_seconds(
    workdir: Path, refusing_port: int, monkeypatch, capsys
) -> None:
    uri = f"http://127.0.0.1:{refusing_port}"
    monkeypatch.setenv("AIFORGE_MLFLOW_TRACKING_URI", uri)
    code = run()
    err = capsys.readouterr().err
    assert_refused(code, err, uri, "on_unreachable", root=workdir)


def test_hung_server_fails_after_the_checks_own_timeout(
    workdir: Path, silent_port: int, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(tracking_store, "PROBE_TIMEOUT_S", 0.3)
    uri = f"http://127.0.0.1:{silent_port}"
    code = run(f"tracking.tracking_uri={uri}")
    assert_refused(code, capsys.readouterr().err, uri, "no answer within 0.3 s", root=workdir)


def test_unreachable_server_with_warn_trains_untracked(
    workdir: Path, refusing_port: int, warnings: list[str]
) -> None:
    uri = f"http://127.0.0.1:{refusing_port}"
    code = run(f"tracking.tracking_uri={uri}", "tracking.on_unreachable=warn")
    assert code == 0
    assert any(uri in w and "untracked" in w for w in warnings), warnings
    (run_dir,) = (workdir / "results" / "tracked").iterdir()
    assert (run_dir / "final_results.json").exists()
    assert not (run_dir / "mlflow_run.json").exists()


@pytest.mark.parametrize("status", [401, 403, 500])
def test_a_server_that_answers_health_is_reachable(status: int) -> None:
    """Any answer to /health but a 404 (an auth proxy's 401 or 403, an error) means a server is
    there: MLflow itself decides what it says. (A 404 is some other web server: see
    test_tracking_failures.py.)"""
    import http.server
    import threading

    class Answers(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(status)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        tracking_store.check_server(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()


# -- SQLite files ----------------------------------------------------------------------------
def test_sqlite_store_in_a_missing_folder_is_refused(workdir: Path, capsys) -> None:
    missing = workdir / "missing" / "dir"
    code = run(f"tracking.tracking_uri=sqlite:///{missing}/x.db")
    assert_refused(code, capsys.readouterr().err, str(missing), "does not exist", root=workdir)
    assert not (workdir / "missing").exists()


def test_a_new_sqlite_store_says_where_it_is_made(workdir: Path, infos: list[str]) -> None:
    code = run("tracking.log_model=false")
    assert code == 0
    db = workdir / "mlflow.db"
    assert db.exists()
    assert any(str(db) in m and "new" in m for m in infos), infos


def test_corrupted_sqlite_store_is_named(workdir: Path, capsys) -> None:
    db = workdir / "mlflow.db"
    db.write_bytes(b"this is not a database, just some text that is long enough " * 20)
    code = run()
    assert_refused(code, capsys.readouterr().err, str(db), root=workdir)
    assert db.read_bytes().startswith(b"this is not a database")


def test_locked_sqlite_store_is_named(workdir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(tracking_store, "PROBE_TIMEOUT_S", 0.3)
    db = workdir / "mlflow.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    try:
        code = run()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_refused(code, capsys.readouterr().err, str(db), "locked", root=workdir)


def test_store_problems_raise_config_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.db").write_bytes(b"x" * 200)
    with pytest.raises(ConfigError, match=r"bad\.db"):
        tracking_store.prepare_store(f"sqlite:///{tmp_path / 'bad.db'}")


# -- two first runs at once ------------------------------------------------------------------
RACER = textwrap.dedent(
    """
    import os, sys, time
    from mlflow.tracking import MlflowClient  # imported before the start: the race is tight
    from aiforge.tracking import store_check as tracking_store

    uri, barrier = sys.argv[1], sys.argv[2]
    print("ready", flush=True)
    while not os.path.exists(barrier):
        time.sleep(0.002)
    tracking_store.prepare_store(uri)
    experiment_id = tracking_store.set_experiment(uri, "race")
    print("ok", experiment_id, flush=True)
    """
)


@pytest.mark.parametrize("attempt", range(3))
def test_two_first_runs_create_one_sqlite_store_together(tmp_path: Path, attempt: int) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    barrier = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, uri, str(barrier)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for racer in racers:  # both are past their imports, waiting for the barrier
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    barrier.touch()
    results = [(racer.wait(), racer.stdout.read(), racer.stderr.read()) for racer in racers]  # type: ignore[union-attr]
    for code, out, err in results:
        assert code == 0, err
        assert out.startswith("ok"), out
    assert results[0][1] == results[1][1]  # one experiment, found or made by both


# -- MLflow's own retries are announced --------------------------------------------------------
def test_a_slow_mlflow_call_is_announced_while_it_waits(warnings: list[str]) -> None:
    import threading

    from aiforge.runtime.log import logger

    said = threading.Event()
    sink = logger.add(lambda _: said.set(), level="WARNING")
    try:
        with tracking_store.slow_notice("Starting the MLflow run", "http://user:pw@host:5000", after_s=0):
            assert said.wait(60)  # the block is still running when the notice comes
    finally:
        logger.remove(sink)
    (notice,) = warnings
    assert "Starting the MLflow run" in notice and "http://user:***@host:5000" in notice
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" in notice


def test_a_quick_mlflow_call_says_nothing(warnings: list[str]) -> None:
    with tracking_store.slow_notice("Starting the MLflow run", "http://host:5000", after_s=3600):
        pass
    assert warnings == []


def test_mlflow_origin_of_a_bad_uri_is_named(workdir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "garbage://x")
    code = run()
    assert_refused(code, capsys.readouterr().err, "MLFLOW_TRACKING_URI", "garbage://x", root=workdir)
