"""Continuing a run: which checkpoint is loaded, damaged or unsafe ones skipped, and what must not change.

(Named so as not to clash with tests/test_resume.py, the end-to-end kill tests.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from aiforge.data.scaling import FeatureScaler
from aiforge.errors import ConfigError, DataError
from aiforge.runs import files as run_files
from aiforge.runs.resume import (
    check_same_config,
    check_same_preprocessor,
    remove_stale_temp_files,
    resumable_run_dir,
)
from aiforge.training.checkpoint import load_latest_checkpoint


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    (folder / run_files.CHECKPOINT_DIR).mkdir(parents=True)
    (folder / run_files.CONFIG_FILE).write_text("experiment_name: x\n")
    return folder


def checkpoint(step: int) -> dict[str, Any]:
    """A complete training checkpoint, as ModelCheckpoint writes it."""
    return {
        "format": 1,
        "model": {"weight": torch.full((2,), float(step))},
        "optimizer": {"state": {}, "param_groups": []},
        "epoch": step // 4,
        "global_step": step,
        "history": [],
        "epoch_progress": {"batches_done": step % 4, "losses": torch.zeros(0), "sizes": [], "start_step": 0},
        "callbacks": {},
        "config": json.dumps({"seed": 0}),
    }


def path_of(run_dir: Path, name: str) -> Path:
    return run_dir / run_files.CHECKPOINT_DIR / name


def write(run_dir: Path, name: str, state: Any) -> Path:
    path = path_of(run_dir, name)
    torch.save(state, path)
    return path


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# -- load_latest_checkpoint -----------------------------------------------------------------------
def test_last_pt_is_loaded_first(run_dir: Path, warnings: list[str]) -> None:
    write(run_dir, "last.pt", checkpoint(8))
    write(run_dir, "previous.pt", checkpoint(4))
    state, path = load_latest_checkpoint(run_dir)
    assert path == path_of(run_dir, "last.pt") and state["global_step"] == 8
    assert torch.equal(state["model"]["weight"], torch.full((2,), 8.0))
    assert warnings == []


@pytest.mark.parametrize(
    ("damage", "reported"),
    [
        ("truncated", "last.pt: cannot be loaded"),
        ("empty", "last.pt: cannot be loaded"),
        ("garbage", "last.pt: cannot be loaded"),
        ("weights only", "last.pt: not a full training checkpoint (missing format, optimizer, epoch, "),
        ("not a dict", "last.pt: not a full training checkpoint (missing format, model, "),
    ],
)
def test_a_damaged_last_pt_falls_back_to_previous_pt(
    run_dir: Path, warnings: list[str], damage: str, reported: str
) -> None:
    last = write(run_dir, "last.pt", checkpoint(8))
    write(run_dir, "previous.pt", checkpoint(4))
    if damage == "truncated":
        truncate(last)
    elif damage == "empty":
        last.write_bytes(b"")
    elif damage == "garbage":
        last.write_bytes(b"\x00not a checkpoint" * 10)
    elif damage == "weights only":
        write(run_dir, "last.pt", {"model": checkpoint(8)["model"]})  # a best.pt-like file
    else:
        write(run_dir, "last.pt", [1, 2, 3])
    state, path = load_latest_checkpoint(run_dir)
    assert path == path_of(run_dir, "previous.pt") and state["global_step"] == 4
    assert len(warnings) == 1 and str(last) in warnings[0] and reported in warnings[0]


def test_previous_pt_alone_is_used(run_dir: Path) -> None:
    # A crash between the two renames of a checkpoint write leaves only previous.pt.
    write(run_dir, "previous.pt", checkpoint(4))
    state, path = load_latest_checkpoint(run_dir)
    assert path.name == "previous.pt" and state["global_step"] == 4


def test_when_neither_loads_the_error_lists_both(run_dir: Path) -> None:
    truncate(write(run_dir, "last.pt", checkpoint(8)))
    write(run_dir, "previous.pt", {"model": {}, "epoch": 1})
    with pytest.raises(DataError) as caught:
        load_latest_checkpoint(run_dir)
    message = str(caught.value)
    assert message.startswith(f"no usable checkpoint in {run_dir / run_files.CHECKPOINT_DIR}:\n")
    lines = message.splitlines()[1:]
    assert len(lines) == 2
    assert lines[0].startswith("  last.pt: cannot be loaded (")
    assert lines[1] == (
        "  previous.pt: not a full training checkpoint "
        "(missing format, optimizer, global_step, history, callbacks, config)"
    )


@pytest.mark.parametrize("checkpoints", [True, False], ids=["empty folder", "no folder"])
def test_no_checkpoint_at_all_is_an_error_not_a_fresh_start(run_dir: Path, checkpoints: bool) -> None:
    if checkpoints:
        write(run_dir, "best.pt", {"model": {}, "epoch": 1})  # best weights are no training state
    else:
        (run_dir / run_files.CHECKPOINT_DIR).rmdir()
    with pytest.raises(DataError, match="has no checkpoint to resume from yet"):
        load_latest_checkpoint(run_dir)


CALLS: list[str] = []


def _record_call(text: str) -> str:
    CALLS.append(text)
    return text


class Payload:
    """Unpickling this runs ``_record_call``: what a malicious checkpoint would do with os.system."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _record_call, ("unpickled",)


def test_a_checkpoint_holding_a_pickled_object_is_refused_never_unpickled(
    run_dir: Path, warnings: list[str]
) -> None:
    CALLS.clear()
    write(run_dir, "last.pt", {**checkpoint(8), "extra": Payload()})
    write(run_dir, "previous.pt", checkpoint(4))
    state, path = load_latest_checkpoint(run_dir)
    assert path.name == "previous.pt" and state["global_step"] == 4
    assert len(warnings) == 1 and "last.pt: cannot be loaded (UnpicklingError" in warnings[0]
    assert CALLS == []

    write(run_dir, "previous.pt", [Payload()])
    with pytest.raises(DataError) as caught:
        load_latest_checkpoint(run_dir)
    assert "last.pt: cannot be loaded (UnpicklingError" in str(caught.value)
    assert "previous.pt: cannot be loaded (UnpicklingError" in str(caught.value)
    assert CALLS == []
    torch.load(path_of(run_dir, "last.pt"), weights_only=False)  # the test's own check: it would run
    assert CALLS == ["unpickled"]


def test_a_long_load_error_is_cut_to_its_first_line(run_dir: Path) -> None:
    write(run_dir, "last.pt", {"x": Payload()})
    with pytest.raises(DataError) as caught:
        load_latest_checkpoint(run_dir)
    reported = str(caught.value).splitlines()[1]
    assert reported.startswith("  last.pt: cannot be loaded (UnpicklingError: ") and reported.endswith(")")
    assert len(reported) < 400


# -- the run folder -------------------------------------------------------------------------------
def test_resumable_run_dir_accepts_an_unfinished_run(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(run_dir.parent)
    assert resumable_run_dir("run") == run_dir.resolve()
    assert resumable_run_dir(run_dir) == run_dir.resolve()


def test_resumable_run_dir_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such run folder"):
        resumable_run_dir(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="no such run folder"):
        resumable_run_dir(tmp_path / "file")


def test_resumable_run_dir_refuses_a_folder_that_is_no_run(tmp_path: Path) -> None:
    (tmp_path / run_files.CHECKPOINT_DIR).mkdir()
    with pytest.raises(ConfigError, match=r"not an AIForge run folder \(it has no config.yaml\)"):
        resumable_run_dir(tmp_path)


def test_resumable_run_dir_refuses_a_finished_run(run_dir: Path) -> None:
    (run_dir / run_files.RESULTS_FILE).write_text("{}")
    with pytest.raises(ConfigError) as caught:
        resumable_run_dir(run_dir)
    assert "this run has finished (final_results.json exists)" in str(caught.value)
    assert f"aiforge run {run_dir.resolve() / 'config.yaml'}" in str(caught.value)


def test_stale_temp_files_are_removed_and_nothing_else(run_dir: Path) -> None:
    checkpoints = run_dir / run_files.CHECKPOINT_DIR
    stale = [checkpoints / ".last.pt.k2j3h4.tmp", run_dir / ".final_results.json.abc.tmp"]
    kept = [checkpoints / "last.pt", checkpoints / "notes.tmp", run_dir / ".hidden", run_dir / "config.yaml"]
    for path in stale + kept:
        path.write_text("x")
    remove_stale_temp_files(run_dir)
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept)


# -- nothing the run depends on changed -----------------------------------------------------------
SAVED = {"seed": 1, "training_config": {"epochs": 3, "learning_rate": 0.1, "scheduler": None}, "tags": ["a"]}


def test_the_same_config_passes(run_dir: Path) -> None:
    check_same_config(json.dumps(SAVED), json.loads(json.dumps(SAVED)), run_dir)


def test_a_changed_config_lists_every_changed_key(run_dir: Path) -> None:
    current = {
        "seed": 2,
        "training_config": {"epochs": 5, "learning_rate": 0.1, "scheduler": {"name": "StepLR"}},
        "tags": ["a", "b"],
        "added": True,
    }
    with pytest.raises(ConfigError) as caught:
        check_same_config(json.dumps(SAVED), current, run_dir)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"the config differs from the one {run_dir} was started with:"
    assert lines[1:-1] == [
        "  seed: 1 -> 2",
        "  training_config.epochs: 3 -> 5",
        '  training_config.scheduler: null -> {"name": "StepLR"}',
        '  tags: ["a"] -> ["a", "b"]',
        "  added: null -> true",
    ]
    assert lines[-1] == "A resume continues the same run; start a new run for a changed config."


def test_a_removed_key_is_a_change(run_dir: Path) -> None:
    current = {"seed": 1, "training_config": {"epochs": 3, "learning_rate": 0.1}, "tags": ["a"]}
    # a key whose saved value is None compares equal to a missing key
    check_same_config(json.dumps(SAVED), current, run_dir)
    del current["tags"]
    with pytest.raises(ConfigError, match=r'  tags: \["a"\] -> null'):
        check_same_config(json.dumps(SAVED), current, run_dir)


def fitted(features: torch.Tensor, scaler_type: str = "standard") -> FeatureScaler:
    scaler = FeatureScaler()
    scaler.fit(features, scaler_type=scaler_type)  # type: ignore[arg-type]
    return scaler


def test_the_same_data_gives_the_same_preprocessor(tmp_path: Path) -> None:
    features = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    path = tmp_path / run_files.PREPROCESSOR_FILE
    fitted(features).save(path)
    check_same_preprocessor(path, fitted(features.clone()))


@pytest.mark.parametrize("change", ["one value", "one row more", "scaler type"])
def test_changed_data_is_detected(tmp_path: Path, change: str) -> None:
    features = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    path = tmp_path / run_files.PREPROCESSOR_FILE
    fitted(features, "minmax").save(path)
    if change == "one value":
        changed = features.clone()
        changed[3, 1] = 100.0
        refitted = fitted(changed, "minmax")
    elif change == "one row more":
        refitted = fitted(torch.cat([features, features[:1] * 50]), "minmax")
    else:
        refitted = fitted(features, "none")
    with pytest.raises(DataError, match="the training data differs from the data this run started with"):
        check_same_preprocessor(path, refitted)


def test_no_preprocessor_or_no_saved_file_is_not_checked(tmp_path: Path) -> None:
    check_same_preprocessor(tmp_path / run_files.PREPROCESSOR_FILE, None)
    check_same_preprocessor(tmp_path / "missing.safetensors", fitted(torch.randn(5, 2)))


def test_a_run_saved_before_an_option_existed_resumes_with_its_default(run_dir: Path) -> None:
    from aiforge.config.model_configs import TrainingConfig

    current = TrainingConfig(epochs=3).model_dump(mode="json")
    older = {key: value for key, value in current.items() if key not in ("precision", "compile")}
    check_same_config(json.dumps({"training_config": older}), {"training_config": current}, run_dir)
    current["precision"] = "bf16-mixed"  # a real change of a new option still counts
    with pytest.raises(ConfigError, match=r'training_config\.precision: "32" -> "bf16-mixed"'):
        check_same_config(json.dumps({"training_config": older}), {"training_config": current}, run_dir)
