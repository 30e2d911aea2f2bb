"""The Python examples of the docs pages that are not plugin files run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plugin_builders import tiny_experiment

ROOT = Path(__file__).resolve().parents[1]


def section_code(page: str, heading: str) -> str:
    """The first ```python block after ``heading`` on a docs page."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    after = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match, f"no python block under {heading!r} in {page}"
    return match.group(1)


@pytest.mark.slow
def test_the_own_callback_example_stops_a_real_run(tmp_path: Path, monkeypatch, capsys) -> None:
    from aiforge.config.model_configs import ExperimentConfig
    from aiforge.config.settings import AppSettings
    from aiforge.core.orchestrator import Orchestrator

    namespace: dict = {}
    exec(section_code("python-api.md", "## Your own callbacks"), namespace)
    monkeypatch.setenv("AIFORGE_TRACKING", "false")
    experiment = tiny_experiment("docs_callback")
    experiment["training_config"] = {
        "epochs": 30,
        "batch_size": 8,
        "learning_rate": 0.02,
        "early_stopping_patience": 100,
    }
    # Noise-free labels of a linear map: validation accuracy reaches 1.0 within a few epochs.
    experiment["dataset_args"] = {"num_samples": 200, "input_dim": 4, "noise": 0.0}
    experiment["model_config"] = {"hidden_dim": 16}
    config = ExperimentConfig(**experiment)
    callback = namespace["StopWhenPerfect"]()
    settings = AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu")
    results = Orchestrator(config, settings=settings, callbacks=[callback]).run_experiment()

    assert callback.trainer is not None
    # The set is separable: the callback, not the epoch count, ends the run.
    assert results["epochs_completed"] < 30
    assert f"perfect at step {callback.trainer.global_step}" in capsys.readouterr().out
