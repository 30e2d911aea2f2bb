"""What the MLflow callback needs when a store fails mid-run, and which run files it uploads:
kept apart from the callback so that its hooks read as the run's story."""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path

from aiforge.tracking.store_check import PROBE_TIMEOUT_S


def run_folder_files(run_dir: Path) -> Iterator[tuple[Path, str | None]]:
    """The files of ``run_dir`` that go to MLflow, each with its artifact folder (None: the top).

    Left out: the folder's lock file (reading it for an upload can drop the lock on NFS), the
    ``.*.tmp`` files of writes that are not finished, and symbolic links (a run folder is data:
    nothing is read through a link out of it; W&B's own links name files uploaded anyway).
    """
    from aiforge.runs.lock import LOCK_FILE

    for folder, subfolders, names in os.walk(run_dir):
        subfolders.sort()
        relative = Path(folder).relative_to(run_dir).as_posix()
        for name in sorted(names):
            if name == LOCK_FILE or fnmatch.fnmatch(name, ".*.tmp"):
                continue
            if os.path.islink(os.path.join(folder, name)):
                continue  # never copy what a link points to (out of the run, or W&B's links twice)
            yield Path(folder) / name, None if relative == "." else relative


def password(uri: str) -> str | None:
    import urllib.parse

    try:
        return urllib.parse.urlsplit(uri).password
    except ValueError:
        return None


@contextlib.contextmanager
def one_quick_try(uri: str) -> Iterator[None]:
    """For a server that failed already: one request, ``PROBE_TIMEOUT_S`` long, not minutes of
    MLflow's retries (it reads these settings at each request)."""
    import urllib.parse

    if urllib.parse.urlsplit(uri).scheme.lower() not in ("http", "https"):
        yield
        return
    settings = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": f"{PROBE_TIMEOUT_S:g}"}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def drop_active_run(run_id: str | None) -> bool:
    """Forget ``run_id`` as this process's active MLflow run without telling the store (which
    MLflow's ``end_run`` would, also at exit); False where MLflow's internals are not as known."""
    try:
        from mlflow.tracking import fluent

        stack = fluent._active_run_stack.get()
        if not stack or stack[-1].info.run_id != run_id:
            return False
        stack.pop()
    except Exception:  # another MLflow version: end_run (and its wait) instead
        return False
    return True
