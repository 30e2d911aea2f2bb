"""The W&B tracker in offline mode: what the offline run's file holds, read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backend_runs import backend_config, history, run, wandb_records

pytest.importorskip("wandb")


def test_an_offline_wandb_run_has_the_epochs_the_config_the_summary_and_the_status(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    results = run(backend_config(["wandb"], epochs=2), tmp_path)
    run_dir = Path(results["run_dir"])
    [file] = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    records = wandb_records(file)
    kinds = [record.WhichOneof("record_type") for record in records]
    logged = [
        {_key(item): json.loads(item.value_json) for item in record.history.item}
        for record in records
        if record.WhichOneof("record_type") == "history"
    ]
    logged = [row for row in logged if "epoch" in row]  # the epochs' rows (W&B adds its own)
    own = history(run_dir)
    assert [(row["epoch"], row["_step"]) for row in logged] == [(1, 4), (2, 8)]
    for row, expected in zip(logged, own, strict=True):
        assert row["val_loss"] == pytest.approx(float(expected["val_loss"]))
        assert row["train_loss"] == pytest.approx(float(expected["train_loss"]))
    config = {  # the run record's config (and any config updates after it)
        _key(item): json.loads(item.value_json)
        for record in records
        for item in (
            record.run.config.update if record.WhichOneof("record_type") == "run" else
            record.config.update if record.WhichOneof("record_type") == "config" else []
        )
    }  # fmt: skip
    assert config["training_config.epochs"] == 2
    summary = {
        _key(item): json.loads(item.value_json)
        for record in records
        if record.WhichOneof("record_type") == "summary"
        for item in record.summary.update
    }
    assert summary["final_val_loss"] == pytest.approx(results["final_val_loss"])
    [exit_record] = [record for record in records if record.WhichOneof("record_type") == "exit"]
    assert exit_record.exit.exit_code == 0 and kinds[-1] in (
        "exit",
        "final",
        "footer",
        "summary",
        "telemetry",
    )


def _key(item: object) -> str:
    """An item's key: ``key``, or its ``nested_key`` parts (what W&B 0.31 writes)."""
    return item.key or "/".join(item.nested_key)  # type: ignore[attr-defined]
