"""Package __init__ files load their modules on first use, so importing a leaf module never pulls
in the higher layers its package also holds (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("leaf", "not_loaded"),
    [
        (
            "aiforge.utils.metrics",
            ["aiforge.utils.callbacks", "aiforge.training.checkpoint", "aiforge.runs.resume"],
        ),
        ("aiforge.config.model_section", ["aiforge.config.model_configs"]),
    ],
)
def test_a_leaf_module_does_not_load_its_packages_other_modules(leaf: str, not_loaded: list[str]) -> None:
    _run(
        f"import sys, {leaf}\n"
        f"loaded = [name for name in {not_loaded!r} if name in sys.modules]\n"
        "assert not loaded, loaded\n"
    )


def test_the_packages_still_export_their_names() -> None:
    _run(
        "import aiforge.utils, aiforge.config\n"
        "from aiforge.utils import Callback, EarlyStopping, MLflowCallback, ModelCheckpoint\n"
        "from aiforge.utils import LRSchedulerCallback, MetricsHistory\n"
        "from aiforge.config import ExperimentConfig, AppSettings, get_settings, TrainingConfig\n"
        "from aiforge.config import ModelSpecificConfig, SchedulerConfig, SimpleNNConfig\n"
        "from aiforge.utils.callbacks import EarlyStopping as Direct\n"
        "assert EarlyStopping is Direct\n"
        "for package in (aiforge.utils, aiforge.config):\n"
        "    assert set(package.__all__) <= set(dir(package)), (package, dir(package))\n"
    )
