"""The run folder lock: one writer per folder, named in the refusal; a dead holder's lock is taken over.

Other processes are real subprocesses (tests/core/test_run_lock_in_process.py covers a second
lock in the same process): a holder takes the lock, says "ready" on stdout, and keeps it until
its stdin closes or it is killed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiforge.errors import AIForgeError, RunFolderInUse
from aiforge.runs import placement as run_placement
from aiforge.runs.lock import LOCK_FILE, acquire_run_lock

HOLDER = """
import sys
from pathlib import Path
from aiforge.runs.lock import acquire_run_lock

lock = acquire_run_lock(Path(sys.argv[1]), "the test's holder")
print("ready", flush=True)
sys.stdin.read()
lock.release()
"""

TRY_LOCK = """
import sys
from pathlib import Path
from aiforge.runs.lock import acquire_run_lock
from aiforge.errors import RunFolderInUse

try:
    acquire_run_lock(Path(sys.argv[1]), "the test's second process").release()
except RunFolderInUse as err:
    print(err)
    sys.exit(2)
"""


def start_holder(run_dir: Path) -> subprocess.Popen:
    """A process that holds ``run_dir``'s lock once this returns."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "ready"  # blocks until the lock is held
    return holder


def try_lock_elsewhere(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", TRY_LOCK, str(run_dir)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen]:
    process = start_holder(tmp_path)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=60)


def test_a_held_folder_is_refused_naming_the_holder(tmp_path: Path, holder: subprocess.Popen) -> None:
    with pytest.raises(RunFolderInUse) as refused:
        acquire_run_lock(tmp_path, "a second writer")
    message = str(refused.value)
    assert f"PID {holder.pid}" in message and socket.gethostname() in message
    assert "the test's holder" in message and str(tmp_path) in message
    recorded = json.loads((tmp_path / LOCK_FILE).read_text())
    assert recorded["pid"] == holder.pid and recorded["host"] == socket.gethostname()


def test_the_lock_of_a_killed_holder_is_taken_over(tmp_path: Path, holder: subprocess.Popen) -> None:
    holder.kill()  # SIGKILL: the holder cannot clean up; the lock file stays behind
    holder.wait(timeout=60)
    assert (tmp_path / LOCK_FILE).exists()
    with acquire_run_lock(tmp_path, "the resume") as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        refused = try_lock_elsewhere(tmp_path)
        assert refused.returncode == 2 and f"PID {os.getpid()}" in refused.stdout
    assert not (tmp_path / LOCK_FILE).exists()  # released: the file goes with it
    assert try_lock_elsewhere(tmp_path).returncode == 0


def test_a_lock_released_by_its_holder_is_free(tmp_path: Path, holder: subprocess.Popen) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(timeout=60) == 0
    assert not (tmp_path / LOCK_FILE).exists()
    acquire_run_lock(tmp_path, "next").release()


def test_a_second_lock_in_the_holding_process_is_refused_and_the_first_kept(tmp_path: Path) -> None:
    """A run hands its own lock to its report; anyone else in the process is refused."""
    outer = acquire_run_lock(tmp_path, "aiforge run")
    with pytest.raises(RunFolderInUse, match="this process"):
        acquire_run_lock(tmp_path, "aiforge report")
    refused = try_lock_elsewhere(tmp_path)
    assert refused.returncode == 2 and "aiforge run" in refused.stdout
    outer.release()
    outer.release()  # a second release does nothing
    assert try_lock_elsewhere(tmp_path).returncode == 0


def test_a_symlink_in_place_of_the_lock_file_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_FILE).symlink_to(outside)
    with pytest.raises(AIForgeError, match="symbolic link"):
        acquire_run_lock(run_dir, "aiforge run")
    assert outside.read_text() == "keep me"


def test_a_folder_deleted_while_locked_is_released_quietly(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = acquire_run_lock(run_dir, "aiforge run")
    (run_dir / LOCK_FILE).unlink()
    run_dir.rmdir()
    lock.release()


def test_a_new_run_folder_is_locked_before_anything_is_written(tmp_path: Path) -> None:
    run_dir, resuming, lock = run_placement.place_run(tmp_path / "results", "exp", None)
    try:
        assert not resuming and lock is not None
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_FILE, "checkpoints"]
        refused = try_lock_elsewhere(run_dir)
        assert refused.returncode == 2 and f"PID {os.getpid()}" in refused.stdout
    finally:
        assert lock is not None
        lock.release()


def test_a_resumed_run_folder_that_is_in_use_is_refused(tmp_path: Path, holder: subprocess.Popen) -> None:
    (tmp_path / "config.yaml").write_text("experiment_name: x\n")
    with pytest.raises(AIForgeError, match=f"PID {holder.pid}"):
        run_placement.place_run(tmp_path / "results", "exp", tmp_path)


def test_only_rank_0_takes_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under torchrun rank 0 alone writes run files, so rank 0 alone holds the folder's lock."""
    monkeypatch.setattr(run_placement, "is_main_process", lambda: False)
    monkeypatch.setattr(run_placement, "broadcast_object", lambda _: (str(tmp_path), True))
    run_dir, resuming, lock = run_placement.place_run(tmp_path / "results", "exp", tmp_path)
    assert (run_dir, resuming, lock) == (tmp_path, True, None)
    assert not (tmp_path / LOCK_FILE).exists()
