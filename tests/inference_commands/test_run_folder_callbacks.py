"""evaluate, predict and export never run a run's callbacks: its dotted callbacks are not imported."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from trained_runs import quiet_settings

from aiforge.inference_commands.loading import load_run


def test_a_run_with_a_dotted_callback_loads_without_the_opt_in_or_the_module(
    iris_run: Path, tmp_path: Path
) -> None:
    run_dir = Path(shutil.copytree(iris_run, tmp_path / "run"))
    config_file = run_dir / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["callbacks"] = [{"class_path": "module_that_is_nowhere.PrintEpoch", "init_args": {"every": 2}}]
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    loaded = load_run(run_dir, settings=quiet_settings(tmp_path))  # no allow_dotted_plugins
    assert loaded.config.callbacks == []
