"""Run folders and atomic, safe writes of results and checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import re
import stat
from pathlib import Path

import pytest
import torch

from aiforge.core import run_files
from aiforge.errors import AIForgeError


def test_each_run_gets_a_new_folder(tmp_path: Path) -> None:
    root = tmp_path / "results"
    folders = {run_files.create_run_dir(root, "exp") for _ in range(5)}
    assert len(folders) == 5
    for folder in folders:
        assert folder.parent == (root / "exp").resolve()
        assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", folder.name)
        assert (folder / run_files.CHECKPOINT_DIR).is_dir()


@pytest.mark.parametrize("name", ["../outside", "a/../../outside", ".."])
def test_a_name_that_leaves_the_results_root_is_refused(tmp_path: Path, name: str) -> None:
    root = tmp_path / "results"
    with pytest.raises(AIForgeError, match="would leave the results folder"):
        run_files.create_run_dir(root, name)
    assert not (tmp_path / "outside").exists()


def test_write_json_and_text(tmp_path: Path) -> None:
    run_files.write_json(tmp_path / "r.json", {"a": 1.5, "path": Path("x/y")})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1.5, "path": "x/y"}
    run_files.write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "t.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "final_results.json"
    run_files.write_json(target, {"version": 1})
    with pytest.raises(RuntimeError, match="crash"), run_files.atomic_path(target) as tmp:
        tmp.write_text('{"vers')  # half a file
        raise RuntimeError("crash")
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["final_results.json"]  # temp file cleaned up


def test_save_state_loads_with_weights_only(tmp_path: Path) -> None:
    state = {"model": {"w": torch.ones(2, 3)}, "epoch": 3, "val_loss": 0.25, "rows": [{"a": 1.0}]}
    run_files.save_state(tmp_path / "c.pt", state)
    loaded = run_files.load_state(tmp_path / "c.pt")
    assert torch.equal(loaded["model"]["w"], torch.ones(2, 3))
    assert loaded["epoch"] == 3 and loaded["rows"] == [{"a": 1.0}]
    assert torch.load(tmp_path / "c.pt", weights_only=True)["val_loss"] == 0.25


class Arbitrary:
    pass


def test_load_state_refuses_arbitrary_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"payload": Arbitrary()}, path)
    with pytest.raises(pickle.UnpicklingError):
        run_files.load_state(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_written_files_follow_the_umask_not_0600(tmp_path: Path, umask: int) -> None:
    # Regression: files went through mkstemp and kept its 0600, so results were private to one user.
    previous = os.umask(umask)
    try:
        run_files.write_text(tmp_path / "config.yaml", "a: 1\n")
        run_files.write_json(tmp_path / "final_results.json", {"a": 1})
        run_files.save_state(tmp_path / "final_model.pt", {"epoch": 1})
        with run_files.atomic_path(tmp_path / "preprocessor.safetensors") as tmp:
            tmp.write_bytes(b"data")
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    assert modes == dict.fromkeys(
        ["config.yaml", "final_results.json", "final_model.pt", "preprocessor.safetensors"], 0o666 & ~umask
    )
