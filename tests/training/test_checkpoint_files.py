"""The checkpoint files have one owner: their names are defined once, and best.pt's layout is
built and read back by training/checkpoint.py (the on-disk names and layout stay as they were)."""

from __future__ import annotations

import ast
from pathlib import Path

import torch

from aiforge.runs import files as run_files
from aiforge.training import checkpoint
from aiforge.utils.callbacks import ModelCheckpoint

SOURCE = Path(checkpoint.__file__).parents[1]


def _code_strings(tree: ast.AST) -> list[ast.Constant]:
    """String constants in code: docstrings (a module's, class's or function's first line) left out."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_each_checkpoint_file_name_is_defined_once() -> None:
    names = {"last.pt", "previous.pt", "best.pt"}
    found = [
        f"{path.relative_to(SOURCE)}:{node.lineno} {node.value}"
        for path in sorted(SOURCE.rglob("*.py"))
        for node in _code_strings(ast.parse(path.read_text(encoding="utf-8")))
        if node.value in names
    ]
    assert len(found) == len(names), found


def test_the_names_on_disk_are_unchanged() -> None:
    assert run_files.CHECKPOINT_NAMES == ("last.pt", "previous.pt")  # the resume order: newest first
    assert run_files.BEST_CHECKPOINT == "best.pt"
    callback = ModelCheckpoint(Path("run") / run_files.CHECKPOINT_DIR)
    assert callback.last_path.name == "last.pt"
    assert callback.previous_path.name == "previous.pt"
    assert callback.best_path.name == "best.pt"


def test_best_pt_keeps_its_layout_and_reads_back(tmp_path: Path) -> None:
    weights = {"linear.weight": torch.ones(2, 3)}
    state = checkpoint.best_state(weights, epoch=3, monitor="val_accuracy", value=0.75)
    assert state == {"model": weights, "epoch": 3, "val_accuracy": 0.75}  # as best.pt always held
    path = tmp_path / "best.pt"
    run_files.save_state(path, state)
    epoch, model = checkpoint.read_best_state(path)
    assert epoch == 3 and torch.equal(model["linear.weight"], weights["linear.weight"])


def test_an_old_best_pt_reads_back(tmp_path: Path) -> None:
    """A best.pt written before this change (the dict ModelCheckpoint built itself)."""
    path = tmp_path / "best.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "epoch": 2, "val_loss": 0.5}, path)
    epoch, model = checkpoint.read_best_state(path)
    assert epoch == 2 and torch.equal(model["w"], torch.zeros(1))
