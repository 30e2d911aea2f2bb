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

from aiforge.errors import AIForgeError
from aiforge.runs import files as run_files


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
        run_files.append_text(tmp_path / "metrics.csv", "epoch\n")
        with run_files.atomic_path(tmp_path / "preprocessor.safetensors") as tmp:
            tmp.write_bytes(b"data")
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    assert modes == dict.fromkeys(
        ["config.yaml", "final_results.json", "final_model.pt", "metrics.csv", "preprocessor.safetensors"],
        0o666 & ~umask,
    )


# -- keeping the previous version, and failed writes ----------------------------------------------
def test_keep_previous_keeps_the_replaced_file(tmp_path: Path) -> None:
    last, previous = tmp_path / "last.pt", tmp_path / "previous.pt"
    run_files.save_state(last, {"step": 1}, keep_previous=previous)
    assert not previous.exists()  # nothing to keep yet
    run_files.save_state(last, {"step": 2}, keep_previous=previous)
    assert run_files.load_state(last) == {"step": 2} and run_files.load_state(previous) == {"step": 1}
    run_files.save_state(last, {"step": 3}, keep_previous=previous)
    assert run_files.load_state(last) == {"step": 3} and run_files.load_state(previous) == {"step": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "previous.pt"]


def test_an_os_error_while_writing_is_a_run_file_error_and_the_old_files_stay(tmp_path: Path) -> None:
    last, previous = tmp_path / "last.pt", tmp_path / "previous.pt"
    last.write_text("old last")
    previous.write_text("old previous")
    disk_full = OSError(28, "No space left on device")  # ENOSPC
    with pytest.raises(run_files.RunFileError) as caught, run_files.atomic_path(last, previous) as tmp:
        tmp.write_text("half a ")
        raise disk_full
    message = str(caught.value)
    assert message.startswith(f"cannot write {last}: [Errno 28] No space left on device (")
    assert "MiB free on that disk" in message and message.endswith("; the existing last.pt is intact")
    assert caught.value.__cause__ is disk_full
    assert isinstance(caught.value, OSError)  # callers that catch OSError still do
    assert last.read_text() == "old last" and previous.read_text() == "old previous"  # no rotation
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "previous.pt"]  # no temp file


def test_a_failed_first_write_does_not_claim_an_intact_file(tmp_path: Path) -> None:
    with pytest.raises(run_files.RunFileError) as caught, run_files.atomic_path(tmp_path / "new.json"):
        raise PermissionError(13, "Permission denied")
    assert "intact" not in str(caught.value) and str(tmp_path / "new.json") in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_save_state_turns_a_torch_save_failure_into_a_run_file_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    last, previous = tmp_path / "last.pt", tmp_path / "previous.pt"
    run_files.save_state(last, {"step": 2}, keep_previous=previous)
    run_files.save_state(last, {"step": 3}, keep_previous=previous)

    def failing_save(obj: object, f: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 128 vs 64")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(run_files.RunFileError) as caught:
        run_files.save_state(last, {"step": 4}, keep_previous=previous)
    message = str(caught.value)
    assert message.startswith(f"cannot write {last}: ") and "torch.save failed: [enforce fail" in message
    assert message.endswith("the existing last.pt is intact")
    monkeypatch.undo()
    assert run_files.load_state(last) == {"step": 3} and run_files.load_state(previous) == {"step": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "previous.pt"]


def test_a_folder_that_is_gone_is_a_run_file_error(tmp_path: Path) -> None:
    with pytest.raises(run_files.RunFileError, match=r"cannot write .*gone.*last\.pt: No such file"):
        run_files.save_state(tmp_path / "gone" / "last.pt", {"step": 1})


def test_append_text_creates_then_appends_whole_lines(tmp_path: Path) -> None:
    target = tmp_path / "metrics.csv"
    run_files.append_text(target, "epoch,loss\n")
    run_files.append_text(target, "1,0.5\n")
    run_files.append_text(target, "2,0.25 é\n")
    assert target.read_text(encoding="utf-8") == "epoch,loss\n1,0.5\n2,0.25 é\n"


def test_append_text_failures_are_run_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(run_files.RunFileError, match=r"cannot write .*gone.*metrics\.csv: .*No such file"):
        run_files.append_text(tmp_path / "gone" / "metrics.csv", "1\n")
    target = tmp_path / "metrics.csv"
    target.write_text("epoch\n")
    monkeypatch.setattr(os, "write", lambda handle, data: len(data) - 1)  # a full disk's short write
    with pytest.raises(run_files.RunFileError, match=r"only 1 of 2 bytes were written.*MiB free"):
        run_files.append_text(target, "1\n")


def test_other_errors_in_the_body_pass_through_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    with pytest.raises(TypeError, match="not serialisable"), run_files.atomic_path(target):
        raise TypeError("not serialisable")
    assert list(tmp_path.iterdir()) == []
