"""No write follows a symlink out of a run folder (issue 16 e): a link planted in a run folder,
pointing outside it, is replaced (files written whole) or refused (appends, linked folders) and
the file or folder outside is never changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aiforge.cli import main
from aiforge.runs import files as run_files
from plugin_builders import finished_iris_run

OUTSIDE_TEXT = "the user's own file, outside the run folder\n"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finished_iris_run(tmp_path_factory.mktemp("trained"), "links")


def _copy(run: Path, tmp_path: Path, resumable: bool) -> Path:
    copy = tmp_path / "results" / "links" / run.name
    shutil.copytree(run, copy)
    if resumable:  # as if the run was stopped after its last checkpoint
        (copy / run_files.RESULTS_FILE).unlink()
    return copy


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "precious.txt"
    target.write_text(OUTSIDE_TEXT, encoding="utf-8")
    return target


def _resume(run: Path, tmp_path: Path) -> int:
    return main(["run", "--resume", str(run), "--results-dir", str(tmp_path / "results"), "--no-progress"])


def test_a_linked_debug_log_is_refused_on_resume(finished_run: Path, tmp_path: Path, capsys) -> None:
    run = _copy(finished_run, tmp_path, resumable=True)
    target = _outside(tmp_path)
    (run / run_files.LOG_FILE).unlink()
    (run / run_files.LOG_FILE).symlink_to(target)
    assert _resume(run, tmp_path) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == OUTSIDE_TEXT


def test_a_linked_metrics_file_is_replaced_on_resume(finished_run: Path, tmp_path: Path) -> None:
    run = _copy(finished_run, tmp_path, resumable=True)
    target = _outside(tmp_path)
    (run / run_files.HISTORY_FILE).unlink()
    (run / run_files.HISTORY_FILE).symlink_to(target)
    assert _resume(run, tmp_path) == 0
    assert target.read_text(encoding="utf-8") == OUTSIDE_TEXT
    history = run / run_files.HISTORY_FILE
    assert not history.is_symlink() and history.read_text(encoding="utf-8").startswith("epoch")


def test_a_linked_checkpoints_folder_is_refused_on_resume(finished_run: Path, tmp_path: Path, capsys) -> None:
    run = _copy(finished_run, tmp_path, resumable=True)
    outside = tmp_path / "outside_checkpoints"
    shutil.move(run / run_files.CHECKPOINT_DIR, outside)
    (run / run_files.CHECKPOINT_DIR).symlink_to(outside, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    assert _resume(run, tmp_path) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


@pytest.mark.parametrize("name", ["report.html", "loss_curves.png"])
def test_report_replaces_a_link_and_leaves_its_target(
    finished_run: Path, tmp_path: Path, capsys, name: str
) -> None:
    run = _copy(finished_run, tmp_path, resumable=False)
    target = _outside(tmp_path)
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(target)
    assert main(["report", str(run), "--redraw"]) == 0
    assert target.read_text(encoding="utf-8") == OUTSIDE_TEXT
    assert (run / name).is_file() and not (run / name).is_symlink()


def test_append_refuses_a_link(tmp_path: Path) -> None:
    target = _outside(tmp_path)
    link = tmp_path / "metrics.csv"
    link.symlink_to(target)
    with pytest.raises(run_files.LinkedRunFileError, match="symbolic link"):
        run_files.append_text(link, "1,2\n")
    assert target.read_text(encoding="utf-8") == OUTSIDE_TEXT


def test_no_write_through_a_linked_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoints").symlink_to(outside, target_is_directory=True)
    for write in (
        lambda: run_files.write_text(run / "checkpoints" / "last.pt", "x"),
        lambda: run_files.append_text(run / "checkpoints" / "log", "x"),
    ):
        with pytest.raises(run_files.LinkedRunFileError, match="symbolic link"):
            write()
    assert list(outside.iterdir()) == []
