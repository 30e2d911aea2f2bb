"""The composition root: builds an Orchestrator from settings, a config and plugin classes."""

from __future__ import annotations

from dependency_injector import containers, providers

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import get_settings
from aiforge.core import plugins
from aiforge.core.orchestrator import Orchestrator


class Container(containers.DeclarativeContainer):
    """Override ``experiment_config`` (and optionally ``settings``), then call ``orchestrator()``.

    >>> container = Container()
    >>> container.experiment_config.override(config)
    >>> container.orchestrator().run_experiment()
    """

    settings = providers.Singleton(get_settings)
    experiment_config = providers.Dependency(instance_of=ExperimentConfig)

    # Each class comes from core.plugins.plugin_class, the function the Orchestrator's own
    # resolution (plugin_classes, when none is passed) uses; each provider resolves only its own
    # plugin name, so overriding one, e.g. ``container.model_class.override(MyModel)``, never
    # loads the model plugin while the dataset's classes are resolved.
    model_class = providers.Callable(
        plugins.plugin_class, experiment_config.provided.model_plugin, "model", settings.provided.PLUGINS_DIR
    )
    dataset_class = providers.Callable(
        plugins.plugin_class,
        experiment_config.provided.dataset_plugin,
        "dataset",
        settings.provided.PLUGINS_DIR,
    )
    preprocessor_class = providers.Callable(
        plugins.plugin_class,
        experiment_config.provided.dataset_plugin,
        "preprocessor",
        settings.provided.PLUGINS_DIR,
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
