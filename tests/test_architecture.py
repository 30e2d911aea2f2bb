"""The structure itself: no import cycle between any two modules, every module placed in the
layering that `lint-imports` checks, and the seed's import paths still real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # No cache: a stale one remembers modules that have since moved.
    return grimp.build_graph("aiforge", cache_dir=None)


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected sets of two or more modules (Tarjan), imports under TYPE_CHECKING too."""
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in edges[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == module:
                    break
            if len(members) > 1:
                cycles.append(sorted(members))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_one_that_imports_it_back(graph: grimp.ImportGraph) -> None:
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    fake = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        fake.add_module(name)
    fake.add_import(importer="pkg.a", imported="pkg.b")
    fake.add_import(importer="pkg.b", imported="pkg.c")
    fake.add_import(importer="pkg.c", imported="pkg.a")
    assert import_cycles(fake) == [["pkg.a", "pkg.b", "pkg.c"]]


def layer_names() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(contract["layers"] for contract in contracts if contract["type"] == "layers")
    return [name.strip() for layer in layers for name in layer.replace("|", ":").split(":")]


def test_every_module_has_a_place_in_the_layers(graph: grimp.ImportGraph) -> None:
    """A module outside every layer would be checked by nothing: a new one needs its line."""
    placed = layer_names()
    packages = {"aiforge", *(name.rsplit(".", 1)[0] for name in graph.modules if "." in name)}
    unplaced = [
        module
        for module in sorted(graph.modules)
        if module not in packages and not any(module == p or module.startswith(p + ".") for p in placed)
    ]
    assert unplaced == []


def test_lint_imports_keeps_every_contract() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


SEED_IMPORTS = """
from aiforge.core.orchestrator import Orchestrator
from aiforge.core.base_model import BaseModel
from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor
from aiforge.config.model_configs import (
    ExperimentConfig, ModelSpecificConfig, SimpleNNConfig, TrainingConfig,
)
from aiforge.config.settings import AppSettings, settings
from aiforge.utils.callbacks import Callback, EarlyStopping, MLflowCallback
from aiforge.utils.metrics import MetricSet
from aiforge.container import Container
from aiforge.core.logger import logger
from aiforge.core.preprocessing import FeatureScaler
from aiforge.core.trainer import Trainer
import aiforge
missing = [name for name in aiforge.__all__ if getattr(aiforge, name, None) is None]
assert not missing, missing
assert issubclass(MLflowCallback, Callback) and issubclass(EarlyStopping, Callback)
assert issubclass(SimpleNNConfig, ModelSpecificConfig)
print("ok")
"""


def test_the_seeds_import_paths_still_work(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SEED_IMPORTS], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_scaler_pickled_under_its_old_module_path_still_loads() -> None:
    """MLflow's pickle fallback recorded ``aiforge.core.preprocessing.FeatureScaler`` before the
    scaler moved to ``aiforge.data.scaling``; such a model must still load."""
    import pickle

    import torch

    from aiforge.data.scaling import FeatureScaler

    scaler = FeatureScaler()
    scaler.fit(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    # Protocol 0 names a class as text ("c<module>\n<name>\n"), so the old path can be written in.
    old = pickle.dumps(scaler, protocol=0).replace(
        b"caiforge.data.scaling\n", b"caiforge.core.preprocessing\n"
    )
    assert b"caiforge.core.preprocessing\nFeatureScaler" in old
    loaded = pickle.loads(old)
    assert type(loaded) is FeatureScaler
    features = torch.tensor([[2.0, 4.0]])
    assert torch.equal(
        loaded.transform({"features": features})["features"],
        scaler.transform({"features": features})["features"],
    )
