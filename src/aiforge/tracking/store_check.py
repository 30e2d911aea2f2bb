"""The MLflow tracking store, checked before a run folder is made.

MLflow finds out that a server is down only after minutes of retries, creates missing folders for
a SQLite file anywhere, and two processes that create one SQLite store at once collide. Here a URI
is checked with the config, a server gets one short request, a SQLite file is opened (and, when
new, created) under a lock next to it, and every problem is a :class:`TrackingStoreError` that
names the URI or file.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiforge.config.tracking_uris import DATABASE_ENGINES, WHOLE_URIS, redact, uri_problem
from aiforge.errors import TrackingStoreError
from aiforge.tracking.mlflow_logs import mlflow_errors_to_debug_log

PROBE_TIMEOUT_S = 5.0  # one request to a server, or the wait for a locked SQLite file
SLOW_NOTICE_S = 15.0  # a call into MLflow that takes longer than this is reported while it waits
STORE_LOCK_WAIT_S = 60.0  # the longest wait for another process creating the same SQLite store


def sqlite_file(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI, absolute (None: not SQLite, or in memory)."""
    if not uri.lower().startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    return Path(database).absolute() if database and database != ":memory:" else None


def prepare_store(uri: str) -> None:
    """Check the store at ``uri`` and, for a new SQL store, create its tables now.

    Raises :class:`TrackingStoreError` naming the URI or file; takes at most a few seconds
    (``PROBE_TIMEOUT_S``) for a server that is down or hung, or a SQLite file that stays locked.
    """
    problem = uri_problem(uri)
    if problem is not None:
        raise TrackingStoreError(f"MLflow tracking URI {redact(uri)!r}: {problem}")
    if uri in WHOLE_URIS:
        return  # Databricks: MLflow's own client and credentials; nothing to check from here
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        check_server(uri)
    elif scheme.split("+")[0] in DATABASE_ENGINES:
        _prepare_sql_store(uri)
    elif scheme in ("", "file") or len(scheme) == 1:
        _check_folder(_local_path(uri), "MLflow file store")


def check_server(uri: str) -> None:
    """One GET of ``<uri>/health``, sent as MLflow sends its requests (user info in the URI,
    MLFLOW_TRACKING_USERNAME/TOKEN/AUTH, MLFLOW_TRACKING_INSECURE_TLS, server and client
    certificates), without retries. An MLflow server always serves /health: a 404 there is some
    other web server. Any other answer (401 or 403 from an auth proxy, too) means it is there."""
    import requests
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    try:
        response = http_request(
            get_default_host_creds(uri),
            "/health",
            "GET",
            max_retries=0,
            backoff_factor=0,
            retry_codes=(),
            timeout=PROBE_TIMEOUT_S,
            raise_on_status=False,
        )
    except Exception as err:
        cause = err.__cause__ or err.__context__ or err  # MLflow's wrapper names the full URL
        if isinstance(cause, requests.exceptions.Timeout) or "timed out" in str(cause):
            reason = f"no answer within {PROBE_TIMEOUT_S:g} s"
        else:
            reason = " ".join(str(cause).split())[:500]
            password = urllib.parse.urlsplit(uri).password
            if password:
                reason = reason.replace(password, "***")
        raise TrackingStoreError(
            f"the MLflow tracking server at {redact(uri)} cannot be reached ({reason}); start it, "
            "fix tracking.tracking_uri / AIFORGE_MLFLOW_TRACKING_URI, set tracking.enabled: false, "
            "or set tracking.on_unreachable: warn to train untracked"
        ) from None
    if response.status_code == 404:
        raise TrackingStoreError(
            f"{redact(uri)} answers HTTP but is not an MLflow tracking server (GET /health returned "
            "404); point tracking.tracking_uri / AIFORGE_MLFLOW_TRACKING_URI at the MLflow server "
            "(`mlflow server`), set tracking.enabled: false, or set tracking.on_unreachable: warn "
            "to train untracked"
        )


def _prepare_sql_store(uri: str) -> None:
    """Open (or create) the store once, so a broken or locked database fails before the run."""
    path = sqlite_file(uri)
    if path is not None:
        _check_folder(path, "MLflow SQLite store", announce=False)
    with store_lock(uri):
        if path is not None:
            _check_folder(path, "MLflow SQLite store")  # says so when this process makes it
            _check_sqlite_file(path)
        from mlflow.tracking import MlflowClient

        try:
            with slow_notice("Opening the MLflow store", uri), mlflow_errors_to_debug_log():
                MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception as err:
            where = path if path is not None else redact(uri)
            reason = " ".join(str(err).split("\n[SQL:")[0].split())[:500]
            raise TrackingStoreError(f"the MLflow store {where} cannot be opened: {reason}") from None


def _check_folder(path: Path, what: str, announce: bool = True) -> None:
    """MLflow would create every missing folder on the way to ``path``: only its own is made."""
    path = path.absolute()
    if not path.parent.is_dir():
        raise TrackingStoreError(
            f"{what} {path}: folder {path.parent} does not exist; create it or choose another "
            "tracking.tracking_uri / AIFORGE_MLFLOW_TRACKING_URI"
        )
    if announce and not path.exists():
        from aiforge.runtime.log import logger

        logger.info(f"{what}: making a new one at {path}")


def _check_sqlite_file(path: Path) -> None:
    """An existing file must be a SQLite database that can be read within ``PROBE_TIMEOUT_S``."""
    import sqlite3

    if not path.exists():
        return
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=PROBE_TIMEOUT_S)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as err:
        if "locked" in str(err):
            reason = f"locked by another process for more than {PROBE_TIMEOUT_S:g} s"
            hint = "end the process that holds it, or choose another tracking.tracking_uri"
        else:
            reason = str(err)
            hint = "if it is damaged, move it away (a new one is made) or choose another tracking_uri"
        raise TrackingStoreError(f"the MLflow store {path} cannot be read ({reason}); {hint}") from None


def sqlite_takes_writes(path: Path, timeout_s: float = 1.0) -> bool:
    """Whether the SQLite file at ``path`` gives a write lock within ``timeout_s`` (MLflow itself
    waits 20 s per call for one); the lock is let go at once."""
    import sqlite3

    try:
        connection = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.Error:
        return False
    return True


def _local_path(uri: str) -> Path:
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme.lower() == "file":
        return Path(urllib.request.url2pathname(parts.path))
    return Path(uri)


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """For a SQLite store, an exclusive lock on ``<file>.lock``: MLflow creates and migrates the
    tables, and creates an experiment, without a lock of its own. Other stores: no lock."""
    path = sqlite_file(uri)
    if path is None or not path.parent.is_dir():
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks here
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+") as lock:
        _wait_for_lock(lock, lock_path, fcntl)
        try:
            with contextlib.suppress(OSError):  # who holds it, for a process that waits
                lock.truncate(0)
                lock.write(f"{os.getpid()}\n")
                lock.flush()
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _wait_for_lock(lock: Any, lock_path: Path, fcntl: Any) -> None:
    """Take the flock on ``lock``, waiting at most ``STORE_LOCK_WAIT_S`` (with a notice) for a
    process that is creating the store; a holder that stays longer is a TrackingStoreError."""
    deadline = time.monotonic() + STORE_LOCK_WAIT_S
    announced = False
    while True:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = _lock_holder(lock)
        if time.monotonic() >= deadline:
            raise TrackingStoreError(
                f"the MLflow SQLite store's lock {lock_path} is still held{holder} after "
                f"{STORE_LOCK_WAIT_S:g} s; wait for that process or end it, "
                "or choose another tracking.tracking_uri / AIFORGE_MLFLOW_TRACKING_URI"
            )
        if not announced:
            from aiforge.runtime.log import logger

            logger.warning(
                f"Waiting for {lock_path}{holder}: another run is creating the MLflow store "
                f"(at most {STORE_LOCK_WAIT_S:g} s)"
            )
            announced = True
        time.sleep(0.05)


def _lock_holder(lock: Any) -> str:
    """`` by process N`` as the holder wrote it into the lock file, or nothing."""
    with contextlib.suppress(OSError, ValueError):
        lock.seek(0)
        pid = int(lock.read(32).strip())
        return f" by process {pid}"
    return ""


def set_experiment(uri: str, name: str) -> str:
    """Find or make the experiment ``name`` in the store at ``uri`` (the current MLflow store) and
    make it the active one; its id. Under the store's lock: two new runs may make it at once."""
    import mlflow

    with store_lock(uri):
        return mlflow.set_experiment(name).experiment_id


@contextlib.contextmanager
def slow_notice(what: str, uri: str, after_s: float | None = None) -> Iterator[None]:
    """Say so when ``what`` waits on MLflow for longer than ``after_s``: its retries can take
    minutes, and nothing else is printed meanwhile."""
    from aiforge.runtime.log import logger

    def notice() -> None:
        logger.warning(f"{what}: {waiting_for(uri)}")

    timer = threading.Timer(SLOW_NOTICE_S if after_s is None else after_s, notice)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def waiting_for(uri: str) -> str:
    """What a call that waits on the store at ``uri`` is waiting for, and what sets how long."""
    path = sqlite_file(uri)
    if path is not None:
        return (
            f"still waiting for the MLflow SQLite database {path}: it is locked or busy (another "
            "process is writing to it); MLflow waits up to 20 s for it per call"
        )
    if urllib.parse.urlsplit(uri).scheme.lower() in ("http", "https"):
        return (
            f"still waiting for the MLflow tracking server at {redact(uri)}; MLflow retries for up "
            "to a few minutes (MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT set how long)"
        )
    return f"still waiting for the MLflow store at {redact(uri)}"


def store_name(uri: str) -> str:
    """The store at ``uri`` for messages: a SQLite store's file (absolute), else the URI without
    its password."""
    path = sqlite_file(uri)
    return str(path) if path is not None else redact(uri)
