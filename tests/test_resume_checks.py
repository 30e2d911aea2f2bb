"""What a resume checks before training goes on: no other process uses the folder, and every file
a finished run needs is there. Real `aiforge` commands in subprocesses, on runs killed mid-training
by test_resume's plugin (KILL_AT_STEP)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiforge.runs.lock import LOCK_FILE
from test_resume import aiforge, start, workspace  # noqa: F401  (workspace: the plugin folder fixture)

pytestmark = pytest.mark.slow

HOLDER = """
import sys
from pathlib import Path
from aiforge.runs.lock import acquire_run_lock

lock = acquire_run_lock(Path(sys.argv[1]), "the test's holder")
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def killed_run(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A run killed in epoch 2 (after the step-9 checkpoint): resumable. Tests use copies of it."""
    code, run_dir = start(
        workspace, "exp_tensors.yaml", tmp_path_factory.mktemp("killed"), {"KILL_AT_STEP": "12"}
    )
    assert code == -signal.SIGKILL
    assert not (run_dir / "final_results.json").exists()
    return run_dir


@pytest.fixture
def run_dir(killed_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "results" / killed_run.parent.name / killed_run.name
    shutil.copytree(killed_run, copy)
    return copy


@pytest.fixture
def holder(run_dir: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the run folder's lock, as a second `aiforge run --resume` would."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"  # blocks until the lock is held
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=60)


def report(workspace: Path, run_dir: Path) -> subprocess.CompletedProcess:  # noqa: F811
    command = [sys.executable, "-m", "aiforge", "report", str(run_dir)]
    return subprocess.run(command, cwd=workspace, capture_output=True, text=True, timeout=300)


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def test_a_resume_of_a_folder_in_use_is_refused_until_its_holder_dies(
    workspace: Path,  # noqa: F811
    run_dir: Path,
    holder: subprocess.Popen,
) -> None:
    before = snapshot(run_dir)
    refused = aiforge(workspace, "run", "--resume", str(run_dir))
    assert refused.returncode == 2, refused.stderr
    assert f"PID {holder.pid}" in refused.stderr and "in use" in refused.stderr
    assert "Traceback" not in refused.stderr
    after = snapshot(run_dir)
    assert after.pop(LOCK_FILE) == before.pop(LOCK_FILE)  # the holder's record, untouched
    assert after == before  # metrics.csv, checkpoints, log: nothing written

    holder.kill()  # SIGKILL: its lock file stays behind, stale
    holder.wait(timeout=60)
    assert (run_dir / LOCK_FILE).exists()
    done = aiforge(workspace, "run", "--resume", str(run_dir))
    assert done.returncode == 0, done.stderr
    assert (run_dir / "final_results.json").exists()
    assert not (run_dir / LOCK_FILE).exists()  # released when the run ended


def test_report_refuses_a_folder_in_use(
    workspace: Path,  # noqa: F811
    run_dir: Path,
    holder: subprocess.Popen,
) -> None:
    refused = report(workspace, run_dir)
    assert refused.returncode == 2 and f"PID {holder.pid}" in refused.stderr
    assert not (run_dir / "report.html").exists()
    assert holder.stdin is not None
    holder.stdin.close()  # the holder ends normally and releases the lock
    assert holder.wait(timeout=60) == 0
    done = report(workspace, run_dir)
    assert done.returncode == 0, done.stderr
    assert (run_dir / "report.html").exists()


@pytest.mark.parametrize(
    "missing",
    [
        ["preprocessor.safetensors"],
        ["label_mapping.json"],
        ["preprocessor.safetensors", "label_mapping.json"],
    ],
)
def test_a_resume_missing_a_file_the_run_needs_is_refused(
    workspace: Path,  # noqa: F811
    run_dir: Path,
    missing: list[str],
) -> None:
    kept = {name: (run_dir / name).read_bytes() for name in missing}
    for name in missing:
        (run_dir / name).unlink()
    checkpoints = snapshot(run_dir / "checkpoints")
    metrics = (run_dir / "metrics.csv").read_bytes()
    refused = aiforge(workspace, "run", "--resume", str(run_dir))
    assert refused.returncode == 2, refused.stderr
    for name in missing:
        assert name in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (
        snapshot(run_dir / "checkpoints") == checkpoints and (run_dir / "metrics.csv").read_bytes() == metrics
    )
    assert not (run_dir / "final_results.json").exists()

    for name, data in kept.items():  # put back, the same run resumes and finishes
        (run_dir / name).write_bytes(data)
    done = aiforge(workspace, "run", "--resume", str(run_dir))
    assert done.returncode == 0, done.stderr


def test_a_resume_with_a_damaged_preprocessor_file_is_refused(
    workspace: Path,  # noqa: F811
    run_dir: Path,
) -> None:
    (run_dir / "preprocessor.safetensors").write_bytes(b"not safetensors")
    refused = aiforge(workspace, "run", "--resume", str(run_dir))
    assert refused.returncode == 2, refused.stderr
    assert "preprocessor.safetensors" in refused.stderr and "Traceback" not in refused.stderr
