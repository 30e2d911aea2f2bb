"""``aiforge predict --input FILES_OR_FOLDERS``: which files a folder gives, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiforge.errors import DataError
from aiforge.inference_commands.predict import check_file_inputs, input_files, is_table_input


def test_one_table_file_is_a_table_and_anything_else_files() -> None:
    assert is_table_input([Path("rows.CSV")])
    assert is_table_input([Path("rows.parquet")])
    assert not is_table_input([Path("photo.png")])
    assert not is_table_input([Path("a.csv"), Path("b.csv")])
    assert not is_table_input([Path("folder")])


def test_a_folder_gives_its_files_sorted_with_subfolders_and_without_hidden_ones(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "b").mkdir(parents=True)
    (photos / ".cache").mkdir()
    for name in ("z.png", "b/c.PNG", ".hidden.png", "notes.txt", ".cache/x.png"):
        (photos / name).write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "far.png").write_bytes(b"x")
    (photos / "link").symlink_to(outside, target_is_directory=True)
    single = tmp_path / "one.jpg"
    single.write_bytes(b"x")
    found = input_files([photos, single], suffixes=[".png", ".jpg"])
    assert found == [photos / "b" / "c.PNG", photos / "z.png", single]  # no link followed out
    assert photos / "notes.txt" in input_files([photos])  # no suffixes named: every file


def test_a_folder_without_input_files_and_a_missing_input_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=r"the folder .*empty holds no input files \(.png\)"):
        input_files([tmp_path / "empty"], suffixes=[".png"])
    with pytest.raises(DataError, match=r"--input: not found: .*missing.png"):
        check_file_inputs([tmp_path / "missing.png"], tmp_path / "out.csv")
