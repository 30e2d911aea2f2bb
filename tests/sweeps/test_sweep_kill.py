"""A sweep killed at any moment continues when the same command runs again, and ends with exactly the
requested number of finished trials; two processes (machines) share one PostgreSQL-backed study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_files import aiforge, finished_rows, sweep_file, trial_rows

pytestmark = pytest.mark.slow

# Trials long enough that a kill lands inside one, with a checkpoint every few steps.
LONGER = (
    "-o",
    "dataset_args.num_samples=3000",
    "-o",
    "training_config.epochs=2",
    "-o",
    "training_config.checkpoint_every_n_steps=20",
)


def test_a_sigkilled_sweep_rerun_ends_with_exactly_the_trials_requested(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, trials=3)
    command = [sys.executable, "-m", "aiforge", "sweep", str(path), "--results-dir", "results", *LONGER]
    env = {**os.environ, "AIFORGE_TRACKING": "false"}
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    results = tmp_path / "results"
    # Until the first trial's first checkpoint, however long a busy machine takes to get there.
    started = time.monotonic()
    while not list(results.glob("*/2*/checkpoints/last.pt")) and process.poll() is None:
        if time.monotonic() - started > 300:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("no checkpoint after 300 s")
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()[1][-3000:]  # it did not end early
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and anything it started
    process.wait()

    done = aiforge(tmp_path, "sweep", str(path), "--results-dir", "results", *LONGER)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = results / "tiny_sweep" / "sweeps" / "tiny_sweep"
    rows = trial_rows(folder)
    assert len(finished_rows(folder)) == 3
    assert not [row for row in rows if row["state"] in ("RUNNING", "WAITING")]
    cut_off = [row for row in rows if row["state"] == "FAIL"]
    assert len(cut_off) == 1  # the trial the kill cut off ...
    finished_dirs = [row["run_dir"] for row in finished_rows(folder)]
    assert cut_off[0]["run_dir"] in finished_dirs  # ... was resumed in its own run folder
    assert len(list((results / "tiny_sweep").glob("2*"))) == 3
    assert "cut off" in done.stderr


def test_sigterm_stops_the_sweep_with_a_checkpoint_and_the_rerun_resumes_it(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, trials=2)
    command = [sys.executable, "-m", "aiforge", "sweep", str(path), "--results-dir", "results", *LONGER]
    env = {**os.environ, "AIFORGE_TRACKING": "false"}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    results = tmp_path / "results"
    started = time.monotonic()
    while not list(results.glob("*/2*/checkpoints/last.pt")) and process.poll() is None:
        if time.monotonic() - started > 300:
            process.kill()
            pytest.fail("no checkpoint after 300 s")
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=300)[1]
    assert process.returncode == 143, stderr[-3000:]
    folder = results / "tiny_sweep" / "sweeps" / "tiny_sweep"
    cut_off = [row for row in trial_rows(folder) if row["state"] == "FAIL"]
    assert len(cut_off) == 1 and cut_off[0]["run_dir"]

    done = aiforge(tmp_path, "sweep", str(path), "--results-dir", "results", *LONGER)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resuming from" in done.stderr
    assert len(finished_rows(folder)) == 2
    assert cut_off[0]["run_dir"] in [row["run_dir"] for row in finished_rows(folder)]
    assert json.loads((folder / "sweep_results.json").read_text())["trials_failed"] == 0


def test_two_processes_share_one_postgresql_study(tmp_path: Path, postgres_url: str) -> None:
    import optuna

    path = sweep_file(tmp_path, trials=4)
    env = {**os.environ, "AIFORGE_TRACKING": "false"}
    machines = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiforge",
                "sweep",
                str(path),
                "--results-dir",
                f"machine{i}",
                "--storage",
                postgres_url,
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [machine.communicate(timeout=600) for machine in machines]
    assert [m.returncode for m in machines] == [0, 0], [err[-3000:] for _, err in outputs]
    study = optuna.load_study(study_name="tiny_sweep", storage=postgres_url)
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4
    run_dirs = [t.user_attrs["run_dir"] for t in finished]
    assert len(set(run_dirs)) == 4  # none run twice
    on_disk = [p for i in range(2) for p in (tmp_path / f"machine{i}" / "tiny_sweep").glob("2*")]
    assert sorted(map(str, on_disk)) == sorted(run_dirs)
