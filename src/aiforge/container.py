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

    # The classes come from core.plugins.plugin_classes, as the Orchestrator's own (when none is
    # passed); each can be overridden here, e.g. ``container.model_class.override(MyModel)``.
    plugin_classes = providers.Callable(
        plugins.plugin_classes,
        experiment_config.provided.model_plugin,
        experiment_config.provided.dataset_plugin,
        settings.provided.PLUGINS_DIR,
    )
    model_class = plugin_classes.provided.model
    dataset_class = plugin_classes.provided.dataset
    preprocessor_class = plugin_classes.provided.preprocessor
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
