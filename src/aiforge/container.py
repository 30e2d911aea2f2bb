"""The composition root: builds an Orchestrator from settings, a config and plugin classes."""

from __future__ import annotations

from dependency_injector import containers, providers

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import get_settings
from aiforge.core.orchestrator import Orchestrator
from aiforge.core.plugins import load_class


class Container(containers.DeclarativeContainer):
    """Override ``experiment_config`` (and optionally ``settings``), then call ``orchestrator()``.

    >>> container = Container()
    >>> container.experiment_config.override(config)
    >>> container.orchestrator().run_experiment()
    """

    settings = providers.Singleton(get_settings)
    experiment_config = providers.Dependency(instance_of=ExperimentConfig)

    model_class = providers.Callable(
        load_class, experiment_config.provided.model_plugin, "model", settings.provided.PLUGINS_DIR
    )
    dataset_class = providers.Callable(
        load_class,
        experiment_config.provided.dataset_plugin,
        "dataset",
        settings.provided.PLUGINS_DIR,
    )
    preprocessor_class = providers.Callable(
        load_class,
        experiment_config.provided.dataset_plugin,
        "preprocessor",
        settings.provided.PLUGINS_DIR,
        required=False,
    )
    callbacks = providers.List()

    orchestrator = providers.Factory(
        Orchestrator,
        experiment_config=experiment_config,
        ModelClass=model_class,
        DatasetClass=dataset_class,
        PreprocessorClass=preprocessor_class,
        settings=settings,
        callbacks=callbacks,
    )
