"""The worked example of docs/sweeps.md runs as written, through the real ``aiforge sweep``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from sweep_files import aiforge, finished_rows

PAGE = Path(__file__).resolve().parents[2] / "docs" / "sweeps.md"
HEADING = "## A worked example"


def example_file() -> str:
    """The first ```yaml block after the worked example's heading."""
    text = PAGE.read_text(encoding="utf-8")
    after = text[text.index(HEADING) :]
    match = re.search(r"```yaml\n(.*?)```", after, re.S)
    assert match, f"no yaml block under {HEADING!r} in {PAGE.name}"
    return match.group(1)


def test_the_example_is_the_digits_sweep_the_page_describes() -> None:
    data = yaml.safe_load(example_file())
    assert data["dataset_plugin"] == "digits"
    sweep = data["sweep"]
    assert (sweep["metric"], sweep["trials"], sweep["workers"]) == ("accuracy", 6, 2)
    assert sweep["space"]["training_config.learning_rate"]["log"] is True
    assert sweep["space"]["model_config.hidden_dim"]["type"] == "int"


@pytest.mark.slow
def test_the_worked_example_runs(tmp_path: Path) -> None:
    path = tmp_path / "digits_sweep.yaml"
    path.write_text(example_file(), encoding="utf-8")
    tiny = ("-o", "training_config.epochs=2", "-o", "sweep.trials=2")
    done = aiforge(tmp_path, "sweep", str(path), "--results-dir", "results", *tiny)
    assert done.returncode == 0, done.stderr[-3000:]
    experiment = yaml.safe_load(example_file())["experiment_name"]
    folder = tmp_path / "results" / experiment / "sweeps" / experiment
    record = json.loads((folder / "sweep_results.json").read_text())
    assert record["trials_complete"] + record["trials_pruned"] == 2
    assert record["trials_requested"] == 2 and record["metric"] == "val_accuracy"
    assert len(finished_rows(folder)) == 2
    assert (folder / "sweep_config.yaml").is_file() and (folder / "optuna_journal.log").is_file()
    assert "best trial" in done.stdout


def test_the_config_reference_lists_every_sweep_key() -> None:
    import importlib.util

    from aiforge.sweeps.config import CategoricalParam, FloatParam, IntParam, SweepConfig

    generator_file = PAGE.parent / "gen_config_reference.py"
    spec = importlib.util.spec_from_file_location("gen_config_reference", generator_file)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    page = generator.render_config_reference()
    for cls in (SweepConfig, FloatParam, IntParam, CategoricalParam):
        section = page.split(f"## {cls.__name__}\n", 1)[1].split("\n## ", 1)[0]
        for name in cls.model_fields:
            assert f"| `{name}` |" in section, f"{cls.__name__}.{name} is not in the reference"
    assert "mapping of key path to [FloatParam](#floatparam)" in page
