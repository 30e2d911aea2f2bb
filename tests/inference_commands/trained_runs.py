"""Helpers to train small runs for the inference-command tests."""

from __future__ import annotations

from pathlib import Path

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator


def quiet_settings(root: Path) -> AppSettings:
    return AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")


def train(root: Path, **fields) -> Path:
    config = ExperimentConfig(tracking={"enabled": False}, **fields)
    return Path(Orchestrator(config, settings=quiet_settings(root)).run_experiment()["run_dir"])
