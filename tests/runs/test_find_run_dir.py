"""The one lookup of a RUN_DIR argument (review item 16): as given, else under the results folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiforge.runs import files as run_files


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    run = tmp_path / "results" / "exp" / "run1"
    run.mkdir(parents=True)
    (run / run_files.CONFIG_FILE).write_text("experiment_name: exp\n")
    (tmp_path / "a_file").write_text("x")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "results"


def test_a_folder_is_found_as_given_or_under_the_results_folder(results: Path) -> None:
    run = (results / "exp" / "run1").resolve()
    assert run_files.find_run_dir(run).path == run
    found = run_files.find_run_dir("exp/run1", results)
    assert (found.path, found.problem, found.missing) == (run, "", ())
    assert run_files.locate_run_dir("exp/run1", results) == run


def test_what_is_wrong_is_reported_for_the_caller_to_word(results: Path) -> None:
    missing = run_files.find_run_dir("exp/nothing", results)
    assert missing.problem == "missing" and missing.looked == (Path("exp/nothing"), results / "exp/nothing")
    assert missing.path == Path("exp/nothing")  # as given, for the message
    assert run_files.find_run_dir("a_file", results).problem == "file"
    lacks = run_files.find_run_dir("exp", results, need=(run_files.CONFIG_FILE, run_files.HISTORY_FILE))
    assert lacks.problem == "lacks" and lacks.missing == (run_files.CONFIG_FILE, run_files.HISTORY_FILE)
    assert run_files.find_run_dir("exp/run1", results, need=(run_files.HISTORY_FILE,)).missing == (
        run_files.HISTORY_FILE,
    )
