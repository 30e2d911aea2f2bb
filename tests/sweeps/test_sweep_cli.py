"""``aiforge sweep`` refuses bad input with exit 2 before any trial starts, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_files import SPACE, aiforge, sweep_file

pytestmark = pytest.mark.slow


def _no_trial_ran(results: Path) -> bool:
    return not list(results.glob("*/2*"))  # no run folder was made


@pytest.mark.parametrize(
    ("sweep", "args", "expected"),
    [
        (
            {"space": {"training_config.learnin_rate": {"type": "float", "low": 0.01, "high": 0.1}}},
            (),
            "sweep.space.training_config.learnin_rate",
        ),
        ({"space": {"model_config.hidden_dim": {"type": "int", "low": 8, "high": 8}}}, (), "empty range"),
        ({}, ("-o", "sweep.metric=val_r2"), "sweep.metric: 'val_r2' is not logged"),
        ({}, ("-o", "sweep.trials=0"), "sweep.trials"),
        (
            {},
            ("--storage", "postgresql://sweeper:s3cret@127.0.0.1:1/optuna"),
            "cannot reach the Optuna storage",
        ),
        ({}, ("--study-name", "../up"), "sweep.study_name"),
    ],
)
def test_bad_input_exits_2_naming_the_key(tmp_path: Path, sweep: dict, args: tuple, expected: str) -> None:
    path = sweep_file(tmp_path, **sweep)
    done = aiforge(tmp_path, "sweep", str(path), "--results-dir", "results", *args)
    assert done.returncode == 2, done.stderr[-3000:]
    assert expected in done.stderr
    assert "s3cret" not in done.stderr  # a storage URL's password is never shown
    assert _no_trial_ran(tmp_path / "results")


def test_a_study_with_another_space_is_refused(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, trials=1)
    first = aiforge(tmp_path, "sweep", str(path), "--results-dir", "results")
    assert first.returncode == 0, first.stderr[-3000:]
    wider = {**SPACE, "model_config.hidden_dim": {"type": "int", "low": 4, "high": 32, "step": 4}}
    path = sweep_file(tmp_path, trials=2, space=wider)
    done = aiforge(tmp_path, "sweep", str(path), "--results-dir", "results")
    assert done.returncode == 2, done.stderr[-3000:]
    assert "search space at model_config.hidden_dim" in done.stderr and "sweep.study_name" in done.stderr
    assert len(list((tmp_path / "results" / "tiny_sweep").glob("2*"))) == 1  # no second trial ran
    other = aiforge(
        tmp_path,
        "sweep",
        str(path),
        "--results-dir",
        "results",
        "--study-name",
        "wider",
        "-o",
        "sweep.trials=1",
    )
    assert other.returncode == 0, other.stderr[-3000:]
    assert (tmp_path / "results" / "tiny_sweep" / "sweeps" / "wider" / "sweep_results.json").is_file()


def test_run_on_a_sweep_file_points_to_aiforge_sweep(tmp_path: Path) -> None:
    path = sweep_file(tmp_path)
    done = aiforge(tmp_path, "run", str(path), "--results-dir", "results")
    assert done.returncode == 2
    assert "aiforge sweep" in done.stderr and "unknown key" not in done.stderr


def test_a_file_without_a_sweep_section_is_refused(tmp_path: Path) -> None:
    path = sweep_file(tmp_path)
    path.write_text(path.read_text().split("sweep:")[0])
    done = aiforge(tmp_path, "sweep", str(path))
    assert done.returncode == 2 and "no sweep: section" in done.stderr
