"""One function resolves a run's plugin classes: the Orchestrator and the Container both use it."""

from __future__ import annotations

from typing import Any

import pytest

from aiforge.config.model_configs import ExperimentConfig, SimpleNNConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core import plugins
from aiforge.core.plugins import PluginClasses, plugin_classes
from aiforge.data.scaling import FeatureScaler
from aiforge.errors import PluginError
from aiforge.plugins.simple_nn.dataset import Dataset as SimpleDataset
from aiforge.plugins.simple_nn.model import Model as SimpleModel


class OwnDataset(SimpleDataset):
    pass


class OwnModel(SimpleModel):
    pass


def config() -> ExperimentConfig:
    return ExperimentConfig(
        model_plugin="simple_nn",
        dataset_plugin="simple_nn",
        model_config=SimpleNNConfig(hidden_dim=8),
        training_config=TrainingConfig(epochs=1),
    )


def test_classes_not_given_are_loaded_from_the_plugin_names() -> None:
    expected = PluginClasses(SimpleModel, SimpleDataset, FeatureScaler)
    assert plugin_classes("simple_nn", "simple_nn") == expected


def test_a_given_dataset_class_keeps_the_preprocessor_as_given() -> None:
    """With DatasetClass passed, PreprocessorClass None means no preprocessing, not "load it"."""
    classes = plugin_classes("simple_nn", "simple_nn", dataset=OwnDataset)
    assert classes == PluginClasses(SimpleModel, OwnDataset, None)
    classes = plugin_classes("simple_nn", "simple_nn", model=OwnModel, preprocessor=FeatureScaler)
    assert classes == PluginClasses(OwnModel, SimpleDataset, FeatureScaler)


def test_a_plugin_that_cannot_be_found_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match="no_such_plugin"):
        plugin_classes("no_such_plugin", "simple_nn")


def counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every class loaded through aiforge.core.plugins, as (plugin name, kind)."""
    loads: list[tuple[str, str]] = []
    load_class = plugins.load_class

    def counted(name: str, kind: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append((name, kind))
        return load_class(name, kind, *args, **kwargs)

    monkeypatch.setattr(plugins, "load_class", counted)
    return loads


def test_the_orchestrator_resolves_through_the_plugins_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiforge.core.orchestrator import Orchestrator

    loads = counting_loads(monkeypatch)
    orchestrator = Orchestrator(config(), settings=AppSettings(DEVICE="cpu", TRACKING=False))
    assert sorted(loads) == [("simple_nn", "dataset"), ("simple_nn", "model"), ("simple_nn", "preprocessor")]
    assert (orchestrator.ModelClass, orchestrator.DatasetClass, orchestrator.PreprocessorClass) == (
        SimpleModel,
        SimpleDataset,
        FeatureScaler,
    )


def test_the_container_resolves_through_the_plugins_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiforge.container import Container

    loads = counting_loads(monkeypatch)
    container = Container()
    container.experiment_config.override(config())
    container.settings.override(AppSettings(DEVICE="cpu", TRACKING=False))
    orchestrator = container.orchestrator()
    assert {kind for _, kind in loads} == {"model", "dataset", "preprocessor"}
    assert (orchestrator.ModelClass, orchestrator.DatasetClass, orchestrator.PreprocessorClass) == (
        SimpleModel,
        SimpleDataset,
        FeatureScaler,
    )


def test_a_class_overridden_in_the_container_is_used() -> None:
    from aiforge.container import Container

    container = Container()
    container.experiment_config.override(config())
    container.settings.override(AppSettings(DEVICE="cpu", TRACKING=False))
    container.model_class.override(OwnModel)
    assert container.orchestrator().ModelClass is OwnModel


def test_an_overridden_class_never_resolves_the_other_plugins_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overriding the model class does not load the model plugin by name (here: not installed), and
    each class is resolved once per orchestrator() call."""
    from aiforge.container import Container

    loads = counting_loads(monkeypatch)
    container = Container()
    container.experiment_config.override(config().model_copy(update={"model_plugin": "my_model_xyz"}))
    container.settings.override(AppSettings(DEVICE="cpu", TRACKING=False))
    container.model_class.override(OwnModel)
    orchestrator = container.orchestrator()
    assert (orchestrator.ModelClass, orchestrator.DatasetClass, orchestrator.PreprocessorClass) == (
        OwnModel,
        SimpleDataset,
        FeatureScaler,
    )
    assert sorted(loads) == [("simple_nn", "dataset"), ("simple_nn", "preprocessor")]


def test_the_container_resolves_each_class_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiforge.container import Container

    loads = counting_loads(monkeypatch)
    container = Container()
    container.experiment_config.override(config())
    container.settings.override(AppSettings(DEVICE="cpu", TRACKING=False))
    container.orchestrator()
    assert sorted(loads) == [("simple_nn", "dataset"), ("simple_nn", "model"), ("simple_nn", "preprocessor")]
