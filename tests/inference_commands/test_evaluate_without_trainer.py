"""`aiforge evaluate` evaluates with the shared evaluation loop, not by building a Trainer."""

from __future__ import annotations

import json

import pytest
from trained_runs import quiet_settings

from aiforge.inference_commands.evaluate import evaluate_run
from aiforge.inference_commands.loading import load_run
from aiforge.training import trainer as trainer_module


def test_evaluate_builds_no_trainer_and_still_reproduces_the_run(iris_run, tmp_path, monkeypatch):
    def no_trainer(*args, **kwargs):
        raise AssertionError("aiforge evaluate must not build a Trainer")

    monkeypatch.setattr(trainer_module.Trainer, "__init__", no_trainer)
    result = evaluate_run(load_run(iris_run, quiet_settings(tmp_path)))
    final = json.loads((iris_run / "final_results.json").read_text())
    assert (result["loss"], result["metrics"]) == (final["final_val_loss"], final["final_val_metrics"])
    assert result["matches_run_final"] is True


@pytest.mark.parametrize("split", ["train", "all"])
def test_other_splits_build_no_trainer_either(iris_run, tmp_path, monkeypatch, split):
    monkeypatch.setattr(trainer_module.Trainer, "__init__", lambda *a, **k: pytest.fail("Trainer built"))
    result = evaluate_run(load_run(iris_run, quiet_settings(tmp_path)), split=split)
    assert result["samples"] == {"train": 120, "all": 150}[split]
    assert set(result["metrics"]) == {"accuracy", "f1"}
