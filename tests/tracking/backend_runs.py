"""Runs for the tracking-backend tests: a tiny experiment with chosen backends, in this process,
and readers of what TensorBoard and the CSV tracker wrote."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from plugin_builders import tiny_experiment


def backend_config(backends: list[str], epochs: int = 2, **tracking: Any) -> ExperimentConfig:
    data = tiny_experiment("backends")
    data["training_config"] = {"epochs": epochs, "batch_size": 8}
    data["tracking"] = {"backends": backends, **tracking}
    return ExperimentConfig(**data)


def settings_for(tmp_path: Path) -> AppSettings:
    return AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=True)


def run(config: ExperimentConfig, tmp_path: Path, callbacks: list[Any] | None = None) -> dict[str, Any]:
    return Orchestrator(config, settings=settings_for(tmp_path), callbacks=callbacks).run_experiment()


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Each TensorBoard scalar tag's (step, value) pairs, as TensorBoard itself reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def csv_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "csv" / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def history(run_dir: Path) -> list[dict[str, str]]:
    """The run's own metrics.csv: one row per epoch."""
    with (run_dir / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def assert_series(logged: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    """The same steps, and the same values as far as TensorBoard's float32 keeps them."""
    import pytest

    assert [step for step, _ in logged] == [step for step, _ in expected]
    assert [value for _, value in logged] == pytest.approx([value for _, value in expected], rel=1e-6)


def wandb_records(path: Path) -> list[Any]:
    """The records of an offline W&B run's ``run-<id>.wandb`` file: W&B's LevelDB-style log (a
    7-byte header, then 32 KiB blocks of chunks: crc32, length, type, data) of protobuf Records."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    block, header = 32 * 1024, 7
    records, pending, position = [], b"", header
    while position + header <= len(data):
        left_in_block = block - position % block
        if left_in_block < header:
            position += left_in_block  # the block's padding
            continue
        length = int.from_bytes(data[position + 4 : position + 6], "little")
        kind = data[position + 6]
        chunk = data[position + header : position + header + length]
        position += header + length
        if kind == 0 and length == 0:
            break  # zeros: the end of what was written
        pending += chunk
        if kind in (1, 4):  # FULL, LAST: a record is whole
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
        elif kind == 2:  # FIRST
            pending = chunk
    return records
