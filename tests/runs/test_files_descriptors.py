"""Writes into a run folder stay in the folder that was checked (review item 9): a folder swapped
for a symlink while a file is being written is not followed, for the temp file nor the rename."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiforge.runs import files as run_files


def _swap_for_link(folder: Path, moved_to: Path, outside: Path) -> None:
    folder.rename(moved_to)
    folder.symlink_to(outside, target_is_directory=True)


def test_a_folder_swapped_for_a_link_during_a_write_is_not_followed(tmp_path: Path) -> None:
    run, outside = tmp_path / "run", tmp_path / "outside"
    checkpoints = run / run_files.CHECKPOINT_DIR
    checkpoints.mkdir(parents=True)
    outside.mkdir()
    (checkpoints / "last.pt").write_text("old")
    with run_files.atomic_path(checkpoints / "last.pt", keep_previous=checkpoints / "previous.pt") as tmp:
        _swap_for_link(checkpoints, run / "checked", outside)
        tmp.write_text("new")
    assert list(outside.iterdir()) == []
    assert (run / "checked" / "last.pt").read_text() == "new"
    assert (run / "checked" / "previous.pt").read_text() == "old"


def test_a_linked_folder_is_refused_for_whole_writes_and_appends(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "checkpoints").symlink_to(outside, target_is_directory=True)
    with pytest.raises(run_files.LinkedRunFileError, match=r"symbolic link \(to .*outside\)"):
        run_files.write_text(tmp_path / "checkpoints" / "last.pt", "x")
    with pytest.raises(run_files.LinkedRunFileError, match=r"symbolic link \(to .*outside\)"):
        run_files.open_for_append(tmp_path / "checkpoints" / "log")
    assert list(outside.iterdir()) == []


def test_writers_that_take_a_path_string_still_work(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    with run_files.atomic_path(tmp_path / "weights.safetensors") as tmp:
        save_file({"w": torch.ones(2)}, str(tmp))
    assert torch.equal(load_file(tmp_path / "weights.safetensors")["w"], torch.ones(2))
    run_files.save_state(tmp_path / "last.pt", {"step": 1})
    assert run_files.load_state(tmp_path / "last.pt") == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "weights.safetensors"]
