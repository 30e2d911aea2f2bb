"""Hostile inputs to config composition and class paths: each test is a bug found by trying."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from aiforge.config.composition import compose
from aiforge.config.loading import apply_overrides, load_experiment_config, read_config_file
from aiforge.core.base_model import align_for_loss
from aiforge.errors import ConfigError
from config_files import write

COMMON = {
    "experiment_name": "common",
    "model_plugin": "simple_nn",
    "dataset_plugin": "simple_nn",
    "dataset_args": {"num_samples": 100},
    "model_config": {"hidden_dim": 32},
    "training_config": {"epochs": 3, "batch_size": 16},
}


def test_bases_that_name_one_file_twice_at_every_level_fail_fast(tmp_path: Path) -> None:
    # No cycle, but g12 -> [g11, g11] -> ... reads g0 2**12 times: 2**30 with 30 files (a hang).
    write(tmp_path / "g0.yaml", COMMON)
    for level in range(1, 13):
        write(tmp_path / f"g{level}.yaml", {"base": [f"g{level - 1}.yaml", f"g{level - 1}.yaml"]})
    reads = []

    def read(path: Path) -> dict:
        reads.append(path)
        return read_config_file(path)

    with pytest.raises(ConfigError, match="base files"):
        compose(tmp_path / "g12.yaml", [], read, apply_overrides)
    assert len(reads) < 2000


def test_a_config_file_larger_than_any_real_config_is_refused_before_parsing(tmp_path: Path) -> None:
    # A 12 MB base took minutes to parse; a real config is a few kilobytes.
    big = write(tmp_path / "big.yaml", "# padding\n" * 200_000 + yaml.safe_dump(COMMON))
    main = write(tmp_path / "exp.yaml", {"base": "big.yaml"})
    with pytest.raises(ConfigError, match="larger than"):
        load_experiment_config(main)
    with pytest.raises(ConfigError, match=f"{big}.*larger than"):
        read_config_file(big)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_config_that_is_a_device_is_refused_not_read_forever(tmp_path: Path) -> None:
    # A symlink named like a config to /dev/zero: read_text never ended (MemoryError, exit 1).
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="not a regular file"):
        read_config_file(link)


class _ClassificationLoss(nn.Module):
    task = "classification"

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, target)


def test_a_custom_loss_with_task_classification_gets_integer_labels() -> None:
    # The task followed the class attribute, but the targets were cast to float, so
    # cross_entropy failed on the first batch ("expected target dtype to be Long").
    logits, labels = torch.randn(4, 3), torch.tensor([0, 2, 1, 0])
    predictions, targets = align_for_loss(_ClassificationLoss(), logits, labels)
    assert targets.dtype == torch.int64
    assert predictions.shape == (4, 3)
    _ClassificationLoss()(predictions, targets)  # runs


@pytest.mark.parametrize(
    ("training", "key"),
    [
        ({"optimizer": {"class_path": "torch.nn.Linear"}}, "training_config.optimizer_name"),
        ({"loss": {"class_path": "torch.optim.SGD"}}, "training_config.loss_fn_name"),
    ],
)
def test_a_class_path_error_names_the_file_that_wrote_it_not_the_base(
    tmp_path: Path, training: dict, key: str
) -> None:
    # The translated key (optimizer_name) has no origin of its own: the error said
    # "(set in common.yaml)", the base that wrote training_config, not the file with the mistake.
    write(tmp_path / "common.yaml", COMMON)
    main = write(tmp_path / "exp.yaml", {"base": "common.yaml", "training_config": training})
    with pytest.raises(ConfigError) as err:
        load_experiment_config(main)
    line = next(line for line in str(err.value).splitlines() if line.strip().startswith(key))
    assert "common.yaml" not in line
    write(tmp_path / "common.yaml", {**COMMON, "training_config": {**COMMON["training_config"], **training}})
    write(tmp_path / "exp.yaml", {"base": "common.yaml", "training_config": {"epochs": 2}})
    with pytest.raises(ConfigError) as err:
        load_experiment_config(main)
    line = next(line for line in str(err.value).splitlines() if line.strip().startswith(key))
    assert f"(set in {tmp_path / 'common.yaml'})" in line


@pytest.mark.parametrize("monitor", ["val_nope", "accuracy"])
def test_a_config_early_stopping_monitor_that_the_run_never_logs_is_refused(
    tmp_path: Path, monitor: str
) -> None:
    # training_config.early_stopping_monitor is checked, but the same EarlyStopping named in
    # callbacks: only warned every epoch and never stopped the run.
    callbacks = [{"class_path": "EarlyStopping", "init_args": {"patience": 1, "monitor": monitor}}]
    main = write(tmp_path / "exp.yaml", {**COMMON, "metrics": ["accuracy"], "callbacks": callbacks})
    with pytest.raises(ConfigError, match=f"callbacks.0.init_args.monitor: '{monitor}' is not logged"):
        load_experiment_config(main)
    callbacks[0]["init_args"]["monitor"] = "val_accuracy"
    write(main, {**COMMON, "metrics": ["accuracy"], "callbacks": callbacks})
    assert load_experiment_config(main).callbacks[0].init_args["monitor"] == "val_accuracy"


@pytest.mark.parametrize("nested", [False, True])
def test_references_that_double_at_every_step_fail_fast(tmp_path: Path, nested: bool) -> None:
    # x30 = "${x29}${x29}" ... : 10 * 2**30 characters (or 2**30 mappings) took memory until killed.
    args: dict = {"x0": "a" * 10}
    for level in range(1, 31):
        ref = f"${{dataset_args.x{level - 1}}}"
        args[f"x{level}"] = {"a": ref, "b": ref} if nested else ref + ref
    main = write(tmp_path / "exp.yaml", {**COMMON, "dataset_args": dict(reversed(args.items()))})
    with pytest.raises(ConfigError, match=r"dataset_args\.x.*expand"):
        load_experiment_config(main)
