"""Follow-ups to configs composed from files and objects named by class_path (issue 20's review)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from aiforge.config.loading import compose_file, load_experiment_config
from aiforge.config.trust import no_imports
from aiforge.core.plugins import run_folder_plugins
from aiforge.errors import ConfigError, RunInterrupted
from aiforge.runs.records import config_record, save_records


def default_example(tmp_path: Path) -> Path:
    from aiforge.config.loading import example_path

    return Path(shutil.copy(example_path("default"), tmp_path / "base.yaml"))


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- 1. switching forms across composed files -------------------------------------------------


def test_an_override_file_switches_to_the_optimizer_object_by_nulling_the_name(tmp_path: Path) -> None:
    default_example(tmp_path)
    optimizer = {"class_path": "AdamW", "init_args": {"lr": 0.003}}
    main = write(
        tmp_path / "main.yaml",
        {
            "base": "base.yaml",
            "training_config": {"optimizer": optimizer, "optimizer_name": None, "learning_rate": None},
        },
    )
    training = load_experiment_config(main).training_config
    assert (training.optimizer_name, training.learning_rate) == ("AdamW", 0.003)


def test_the_conflict_says_to_write_null_and_names_both_files(tmp_path: Path) -> None:
    default_example(tmp_path)
    optimizer = {"class_path": "AdamW", "init_args": {"lr": 0.003}}
    main = write(tmp_path / "main.yaml", {"base": "base.yaml", "training_config": {"optimizer": optimizer}})
    with pytest.raises(ConfigError) as err:
        load_experiment_config(main)
    message = str(err.value)
    assert "write optimizer_name: null in the file that gives optimizer:" in message
    assert (
        f"optimizer set in {main}" in message and f"optimizer_name set in {tmp_path / 'base.yaml'}" in message
    )
    assert "(got {" not in message and "characters)" not in message
    optimizer_only = {"optimizer": optimizer, "optimizer_name": None}
    write(main, {"base": "base.yaml", "training_config": optimizer_only})
    with pytest.raises(ConfigError, match="write learning_rate: null in the file that gives optimizer:"):
        load_experiment_config(main)


def test_a_later_scheduler_of_another_class_replaces_the_base_one(tmp_path: Path) -> None:
    base = {"training_config": {"scheduler": {"name": "StepLR", "args": {"step_size": 1, "gamma": 0.7}}}}
    write(tmp_path / "base.yaml", base)
    other = {"name": "OneCycleLR", "args": {"max_lr": 0.01}}
    main = write(tmp_path / "main.yaml", {"base": "base.yaml", "training_config": {"scheduler": other}})
    assert compose_file(main).data["training_config"]["scheduler"] == other
    same = {"name": "StepLR", "args": {"gamma": 0.5}}
    write(main, {"base": "base.yaml", "training_config": {"scheduler": same}})
    merged = {"name": "StepLR", "args": {"step_size": 1, "gamma": 0.5}}
    assert compose_file(main).data["training_config"]["scheduler"] == merged
    by_class_path = {"class_path": "OneCycleLR", "init_args": {"max_lr": 0.01}}
    write(main, {"base": "base.yaml", "training_config": {"scheduler": by_class_path}})
    assert compose_file(main).data["training_config"]["scheduler"] == by_class_path


# -- 2. torch's own classes by dotted path are their short names --------------------------------


def test_torch_dotted_paths_become_short_names_even_without_imports(tmp_path: Path) -> None:
    default_example(tmp_path)
    training = {
        "optimizer_name": None,
        "loss_fn_name": None,
        "optimizer": {"class_path": "torch.optim.AdamW"},
        "loss": {"class_path": "torch.nn.modules.loss.CrossEntropyLoss"},
        "scheduler": {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 2}},
    }
    callbacks = [
        {"class_path": "aiforge.utils.callbacks.EarlyStopping", "init_args": {"patience": 3}},
        {"class_path": "aiforge.utils.progress.ProgressBar"},
    ]
    main = write(
        tmp_path / "main.yaml", {"base": "base.yaml", "training_config": training, "callbacks": callbacks}
    )
    with no_imports():
        config = load_experiment_config(main)
    record = config_record(config)
    assert record["training_config"]["optimizer_name"] == "AdamW"
    assert record["training_config"]["loss_fn_name"] == "CrossEntropyLoss"
    assert record["training_config"]["scheduler"]["name"] == "StepLR"
    assert [c["class_path"] for c in record["callbacks"]] == ["EarlyStopping", "ProgressBar"]
    direct = write(
        tmp_path / "direct.yaml",
        {"base": "base.yaml", "training_config": {"optimizer_name": "torch.optim.SGD"}},
    )
    assert load_experiment_config(direct).training_config.optimizer_name == "SGD"


# -- 3. run folders: inference needs no callbacks; the resume hint --------------------------------


def test_a_run_folder_read_for_inference_ignores_its_callbacks(tmp_path: Path) -> None:
    config = yaml.safe_load(default_example(tmp_path).read_text())
    config["callbacks"] = [{"class_path": "nowhere_at_all.PrintEpoch"}]
    saved = write(tmp_path / "config.yaml", config)
    with run_folder_plugins(saved), pytest.raises(ConfigError, match="--allow-dotted-plugins"):
        load_experiment_config(saved)
    with run_folder_plugins(saved):
        assert load_experiment_config(saved, ignore_callbacks=True).callbacks == []


def test_the_allow_dotted_help_names_class_paths() -> None:
    from aiforge.cli.run_folder_plugins import allow_dotted_parser

    help_text = " ".join(allow_dotted_parser()._actions[0].help.split())
    assert "class path" in help_text and "callbacks, optimizer, loss, scheduler" in help_text


@pytest.mark.parametrize(("dotted", "flag"), [(False, False), (True, True)])
def test_the_resume_hint_names_allow_dotted_when_needed(tmp_path: Path, dotted: bool, flag: bool) -> None:
    from aiforge.runs.resume import explain_failure
    from aiforge.runtime.log import logger

    config = yaml.safe_load(default_example(tmp_path).read_text())
    if dotted:
        config["training_config"]["loss_fn_name"] = "my_losses.FocalLoss"
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"")
    write(run_dir / "config.yaml", config)
    messages: list[str] = []
    sink = logger.add(lambda message: messages.append(str(message)), level="WARNING")
    try:
        explain_failure(RunInterrupted(15), run_dir, tmp_path / "log.txt", trained=True)
    finally:
        logger.remove(sink)
    hint = [m for m in messages if "continue it with" in m]
    assert hint and ("--allow-dotted-plugins" in hint[0]) is flag


# -- 4. messages ---------------------------------------------------------------------------------


def test_a_callback_that_is_not_a_mapping_says_what_is_expected(tmp_path: Path) -> None:
    default_example(tmp_path)
    main = write(tmp_path / "main.yaml", {"base": "base.yaml", "callbacks": ["my_callbacks.PrintEpoch"]})
    with pytest.raises(ConfigError) as err:
        load_experiment_config(main)
    assert "expected {class_path: ..., init_args: {...}}" in str(err.value)
    assert "valid dictionary" not in str(err.value)


def test_callback_init_args_may_be_null(tmp_path: Path) -> None:
    default_example(tmp_path)
    main = write(
        tmp_path / "main.yaml",
        {"base": "base.yaml", "callbacks": [{"class_path": "ProgressBar", "init_args": None}]},
    )
    assert load_experiment_config(main).callbacks[0].init_args == {}


def test_a_failing_callback_init_names_the_file_and_dotted_key_in_the_cli(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "failing_cb.py").write_text(
        "from aiforge.utils.callbacks import Callback\n\n\n"
        "class Failing(Callback):\n    def __init__(self):\n        raise RuntimeError('cannot start')\n"
    )
    config = yaml.safe_load(default_example(tmp_path).read_text())
    config["callbacks"] = [{"class_path": "failing_cb.Failing"}]
    main = write(tmp_path / "main.yaml", config)
    env = {**os.environ, "AIFORGE_TRACKING": "false", "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "aiforge", "run", str(main), "--results-dir", str(tmp_path / "results")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert f"{main}: callbacks.0: failing_cb.Failing() failed" in " ".join(result.stderr.split())


def test_an_override_into_a_list_item_says_to_give_the_whole_list(tmp_path: Path) -> None:
    default_example(tmp_path)
    callbacks = [{"class_path": "ProgressBar"}, {"class_path": "EarlyStopping", "init_args": {"patience": 3}}]
    main = write(tmp_path / "main.yaml", {"base": "base.yaml", "callbacks": callbacks})
    with pytest.raises(ConfigError) as err:
        load_experiment_config(main, ["callbacks.1.init_args.patience=500"])
    assert "by index" in str(err.value) and "whole list" in str(err.value)
    assert "not a mapping" not in str(err.value)


def test_an_override_cannot_name_base_files(tmp_path: Path) -> None:
    main = default_example(tmp_path)
    write(tmp_path / "x.yaml", {"seed": 1})
    with pytest.raises(ConfigError, match="overrides cannot name base files"):
        load_experiment_config(main, ["base=x.yaml"])


# -- 5. an escaped literal ${ survives the saved record --------------------------------------------


def test_a_literal_reference_survives_config_yaml(tmp_path: Path) -> None:
    config = yaml.safe_load(default_example(tmp_path).read_text())
    config["experiment_name"] = "literal"
    config["preprocess_args"]["note"] = "\\${x}"
    main = write(tmp_path / "main.yaml", config)
    loaded = load_experiment_config(main)
    assert loaded.preprocess_args["note"] == "${x}"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_records(run_dir, loaded, None, None)
    saved = run_dir / "config.yaml"
    assert load_experiment_config(saved).preprocess_args["note"] == "${x}"  # aiforge run RUN/config.yaml
    with run_folder_plugins(saved):  # the run folder read as data
        again = load_experiment_config(saved)
    assert again.preprocess_args["note"] == "${x}"
    assert config_record(again) == config_record(loaded)


# -- 6. a logged MLflow model's config is run-folder data ------------------------------------------


def test_the_logged_model_config_refuses_dotted_paths_and_ignores_callbacks(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from aiforge.tracking.mlflow_raw_model import load_logged_config

    config = yaml.safe_load(default_example(tmp_path).read_text())
    config["callbacks"] = [{"class_path": "nowhere_at_all.PrintEpoch"}]
    saved = write(tmp_path / "config.yaml", config)
    assert load_logged_config(saved, None).callbacks == []
    config["training_config"]["loss_fn_name"] = "nowhere_at_all.FocalLoss"
    write(saved, config)
    with pytest.raises(ConfigError, match="dotted import path"):
        load_logged_config(saved, None)
