"""The Python API of a sweep: ``Sweep(config, sweep).run()``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings, get_settings
from aiforge.sweeps.config import SweepConfig
from aiforge.sweeps.loading import SweepSetup, setup_from


class Sweep:
    """A hyperparameter sweep over an experiment: each trial is one ordinary run of ``config`` with
    the trial's values set at the space's key paths.

    ``config``: an ExperimentConfig or its mapping (as in a config file); ``sweep``: a SweepConfig
    or the mapping of a file's ``sweep:`` section. Validated here, so a bad space fails at once.
    """

    def __init__(
        self,
        config: ExperimentConfig | Mapping[str, Any],
        sweep: SweepConfig | Mapping[str, Any],
        settings: AppSettings | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.setup: SweepSetup = setup_from(config, sweep, "the Sweep's config", self.settings.PLUGINS_DIR)

    def run(self) -> dict[str, Any]:
        """Run (or continue) the study until ``trials`` are finished; what sweep_results.json holds."""
        from aiforge.sweeps.runner import run_sweep

        return run_sweep(self.setup, self.settings)
