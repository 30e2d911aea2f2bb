"""Stale temp files are removed only where AIForge writes them (review item 7): a symlinked
folder in the run folder, pointing elsewhere, is never searched, so nothing there is deleted."""

from __future__ import annotations

from pathlib import Path

from aiforge.runs import files as run_files
from aiforge.runs.resume import remove_stale_temp_files


def test_stale_temp_files_go_and_linked_folders_are_left_alone(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / run_files.CHECKPOINT_DIR).mkdir(parents=True)
    stale = [run / ".metrics.csv.abc.tmp", run / run_files.CHECKPOINT_DIR / ".last.pt.def.tmp"]
    for path in stale:
        path.write_text("half a write")
    home = tmp_path / "home"
    (home / "project").mkdir(parents=True)
    theirs = [home / ".x.tmp", home / "project" / ".y.tmp"]
    for path in theirs:
        path.write_text("someone else's")
    (run / "x").symlink_to(home, target_is_directory=True)
    (run / ".linked.tmp").symlink_to(home / ".x.tmp")
    remove_stale_temp_files(run)
    assert not any(path.exists() for path in stale)
    assert all(path.read_text() == "someone else's" for path in theirs)


def test_a_users_own_folder_in_the_run_folder_is_not_searched(tmp_path: Path) -> None:
    """AIForge writes temp files only in the run folder and its checkpoints folder."""
    run = tmp_path / "run"
    (run / run_files.CHECKPOINT_DIR).mkdir(parents=True)
    notes = run / "notes" / "drafts"
    notes.mkdir(parents=True)
    (notes / ".draft.tmp").write_text("the user's")
    remove_stale_temp_files(run)
    assert (notes / ".draft.tmp").read_text() == "the user's"
