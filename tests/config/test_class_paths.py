"""Objects named in a config by class_path + init_args, and the trust switches that refuse them."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from aiforge.config.loading import build_experiment_config
from aiforge.config.trust import no_imports
from aiforge.core.plugins import run_folder_plugins
from aiforge.errors import ConfigError, PluginError
from aiforge.runs.records import config_record
from aiforge.training.builders import loss_class, optimizer_class, task_for_loss

MODULE = """
import torch
from torch import nn
from aiforge.utils.callbacks import Callback


class Recorder(Callback):
    def __init__(self, path: str, every: int = 1) -> None:
        self.path, self.every, self.seen = path, every, []

    def on_epoch_end(self, epoch, logs):
        self.seen.append(epoch)

    def state_dict(self):
        return {"seen": list(self.seen)}

    def load_state_dict(self, state):
        self.seen = list(state["seen"])


class Failing(Callback):
    def __init__(self) -> None:
        raise RuntimeError("cannot start")


class NotACallback:
    def __init__(self) -> None:
        pass


class FocalLoss(nn.Module):
    task = "classification"

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, logits, target):
        ce = nn.functional.cross_entropy(logits, target, reduction="none")
        return ((1 - torch.exp(-ce)) ** self.gamma * ce).mean()


class SmoothCE(nn.CrossEntropyLoss):
    pass


class Huberish(nn.Module):
    def forward(self, outputs, target):
        return (outputs - target).abs().mean()


class MyAdam(torch.optim.Adam):
    pass
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of user classes on sys.path, under a name unique to this test."""
    name = f"userobjs_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def config(**extra) -> dict:
    return {"model_plugin": "simple_nn", "dataset_plugin": "digits", **extra}


def test_a_callback_is_validated_and_built(module: str) -> None:
    from aiforge.config.class_paths import build_callback

    spec = {"class_path": f"{module}.Recorder", "init_args": {"path": "x.txt", "every": 2}}
    built = build_experiment_config(
        config(callbacks=[spec, {"class_path": "EarlyStopping", "init_args": {"patience": 3}}])
    )
    callback = build_callback(built.callbacks[0], "callbacks[0]")
    assert type(callback).__name__ == "Recorder" and callback.every == 2
    early = build_callback(built.callbacks[1], "callbacks[1]")
    assert type(early).__name__ == "EarlyStopping" and early.patience == 3


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "nosuchpkg_xyz.Thing",
            r"callbacks\.0\.class_path: callback 'nosuchpkg_xyz\.Thing': "
            r"module 'nosuchpkg_xyz' failed to import",
        ),
        ("{module}.Missing", r"callback '{module}\.Missing': module '{module}' has no attribute 'Missing'"),
        (
            "{module}.NotACallback",
            r"callback '{module}\.NotACallback' is not a subclass of aiforge\.utils\.callbacks\.Callback",
        ),
        ("EarlyStoping", r"unknown callback 'EarlyStoping'.*EarlyStopping"),
    ],
)
def test_a_bad_class_path_is_named(module: str, path: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.format(module=module)):
        build_experiment_config(config(callbacks=[{"class_path": path.format(module=module)}]))


def test_a_bad_or_missing_init_arg_names_class_and_argument(module: str) -> None:
    bad = {"class_path": f"{module}.Recorder", "init_args": {"path": "x", "evry": 2}}
    with pytest.raises(
        ConfigError,
        match=r"callbacks\.0: callback '.*Recorder': init_args do not fit Recorder: "
        r".*'evry'.*did you mean 'every'",
    ):
        build_experiment_config(config(callbacks=[bad]))
    with pytest.raises(ConfigError, match=r"Recorder: missing a required argument: 'path'"):
        build_experiment_config(config(callbacks=[{"class_path": f"{module}.Recorder"}]))
    with pytest.raises(ConfigError, match=r"callbacks\.0\.extra: unknown key"):
        build_experiment_config(config(callbacks=[{"class_path": "EarlyStopping", "extra": 1}]))


def test_an_init_that_raises_is_a_config_error_naming_the_class(module: str) -> None:
    from aiforge.config.class_paths import build_callback

    built = build_experiment_config(config(callbacks=[{"class_path": f"{module}.Failing"}]))
    with pytest.raises(
        ConfigError, match=rf"callbacks\[0\]: {module}\.Failing\(\) failed: RuntimeError: cannot start"
    ):
        build_callback(built.callbacks[0], "callbacks[0]")


def test_optimizer_loss_and_scheduler_in_class_path_form_become_the_canonical_keys(module: str) -> None:
    training = {
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "weight_decay": 0.1}},
        "loss": {"class_path": f"{module}.FocalLoss", "init_args": {"gamma": 1.5}},
        "scheduler": {"class_path": "StepLR", "init_args": {"step_size": 2}, "monitor": "val_loss"},
    }
    built = build_experiment_config(config(training_config=training))
    tcfg = built.training_config
    assert (tcfg.optimizer_name, tcfg.optimizer_args, tcfg.learning_rate) == (
        "AdamW",  # torch's own class by dotted path is its short name
        {"weight_decay": 0.1},
        0.01,
    )
    assert (tcfg.loss_fn_name, tcfg.loss_fn_args) == (f"{module}.FocalLoss", {"gamma": 1.5})
    assert (tcfg.scheduler.name, tcfg.scheduler.args) == ("StepLR", {"step_size": 2})
    record = config_record(built)["training_config"]
    assert "optimizer" not in record and record["optimizer_name"] == "AdamW"
    assert record["scheduler"]["name"] == "StepLR" and "class_path" not in record["scheduler"]
    assert build_experiment_config(config_record(built)).training_config == tcfg  # the record reloads


@pytest.mark.parametrize(
    ("training", "expected"),
    [
        (
            {"optimizer": {"class_path": "SGD"}, "optimizer_name": "Adam"},
            "optimizer and optimizer_name both name",
        ),
        ({"loss": {"class_path": "MSELoss"}, "loss_fn_args": {}}, "loss and loss_fn_args both name"),
        (
            {"optimizer": {"class_path": "SGD", "init_args": {"lr": 0.1}}, "learning_rate": 0.2},
            "lr and learning_rate",
        ),
        ({"scheduler": {"class_path": "StepLR", "name": "StepLR"}}, "class_path/init_args and name both"),
        ({"optimizer": {"class_path": "SGD", "args": {}}}, r"unknown key\(s\) \['args'\]"),
        (
            {"optimizer": {"class_path": "torch.optim.NoSuch"}},
            "optimizer 'torch.optim.NoSuch': module 'torch.optim' has no attribute",
        ),
        (
            {"optimizer": {"class_path": "torch.nn.MSELoss"}},
            "is not a subclass of torch.optim.optimizer.Optimizer",
        ),
    ],
)
def test_class_path_form_mistakes(training: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        build_experiment_config(config(training_config=training))


def test_dotted_names_resolve_and_the_task_follows_the_class(module: str) -> None:
    assert optimizer_class(f"{module}.MyAdam").__name__ == "MyAdam"
    assert optimizer_class("torch.optim.AdamW") is optimizer_class("AdamW")
    assert loss_class(f"{module}.Huberish").__name__ == "Huberish"  # an nn.Module, not a _Loss
    assert task_for_loss(f"{module}.FocalLoss") == "classification"  # task = "classification"
    assert task_for_loss(f"{module}.SmoothCE") == "classification"  # a CrossEntropyLoss subclass
    assert task_for_loss(f"{module}.Huberish") == "regression"
    assert task_for_loss("torch.nn.CrossEntropyLoss") == "classification"


def test_no_imports_refuses_dotted_paths_and_keeps_built_in_names(module: str) -> None:
    built_ins = config(
        callbacks=[{"class_path": "EarlyStopping", "init_args": {"patience": 2}}],
        training_config={
            "optimizer": {"class_path": "AdamW"},
            "scheduler": {"class_path": "StepLR", "init_args": {"step_size": 1}},
        },
    )
    with no_imports():
        build_experiment_config(built_ins)
        with pytest.raises(
            ConfigError,
            match=r"callbacks\.0\.class_path: callback '.*Recorder' is a dotted import path, and "
            r"--no-imports allows only built-in names",
        ):
            build_experiment_config(
                config(callbacks=[{"class_path": f"{module}.Recorder", "init_args": {"path": "x"}}])
            )
        with pytest.raises(
            ConfigError, match=r"optimizer 'torch\.optim\.adamw\.AdamW' is a dotted import path.*e\.g\. AdamW"
        ):  # torch.optim.AdamW is the short name AdamW; a path into another module stays dotted
            build_experiment_config(config(training_config={"optimizer_name": "torch.optim.adamw.AdamW"}))
        with pytest.raises(
            ConfigError,
            match=r"model_plugin: plugin 'aiforge\.plugins\.simple_nn' is a dotted import path, "
            r"and --no-imports",
        ):
            build_experiment_config(config(model_plugin="aiforge.plugins.simple_nn"))
    build_experiment_config(config(model_plugin="aiforge.plugins.simple_nn"))  # allowed again outside


def test_a_run_folders_config_names_no_class_path_without_the_opt_in(module: str, tmp_path: Path) -> None:
    data = config(callbacks=[{"class_path": f"{module}.Recorder", "init_args": {"path": "x"}}])
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(data))
    with (
        run_folder_plugins(config_file),
        pytest.raises(
            ConfigError,
            match=r"callback '.*Recorder' is a dotted import path named by the run folder's "
            r".*config\.yaml.*--allow-dotted-plugins",
        ),
    ):
        build_experiment_config(data)
    with run_folder_plugins(config_file, allow_dotted=True):
        build_experiment_config(data)


def test_no_imports_refuses_a_dotted_plugin_through_locate() -> None:
    from aiforge.core.plugins import locate

    with no_imports(), pytest.raises(PluginError, match="--no-imports"):
        locate("aiforge.plugins.digits")
    assert locate("digits").origin == "built-in"


def test_no_callbacks_leave_the_record_as_before() -> None:
    assert "callbacks" not in config_record(build_experiment_config(config()))
    record = config_record(
        build_experiment_config(
            config(callbacks=[{"class_path": "EarlyStopping", "init_args": {"patience": 2}}])
        )
    )
    assert record["callbacks"] == [{"class_path": "EarlyStopping", "init_args": {"patience": 2}}]


def test_config_callbacks_states_go_into_checkpoints_and_come_back(module: str) -> None:
    from aiforge.config.class_paths import build_callback
    from aiforge.training.checkpoint import callback_states, load_callback_states
    from aiforge.utils.callbacks import EarlyStopping

    built = build_experiment_config(
        config(
            callbacks=[
                {"class_path": f"{module}.Recorder", "init_args": {"path": "x"}},
                {"class_path": "EarlyStopping", "init_args": {"patience": 5}},
            ]
        )
    )

    def callbacks() -> list:
        own = [build_callback(spec, "callbacks") for spec in built.callbacks]
        return [EarlyStopping(3), *own]  # the run's own EarlyStopping and the config's second one

    first = callbacks()
    first[1].seen = [0, 1]
    first[2].epochs_no_improve = 4
    states = callback_states(first)
    again = callbacks()
    load_callback_states(again, states)
    assert again[1].seen == [0, 1] and again[2].epochs_no_improve == 4 and again[0].epochs_no_improve == 0
