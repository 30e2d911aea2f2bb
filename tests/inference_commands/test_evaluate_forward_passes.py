"""`aiforge evaluate` sizes the metrics from one forward pass, not one per question asked."""

from __future__ import annotations

from typing import Any

import pytest
from trained_runs import quiet_settings

from aiforge.inference_commands.evaluate import evaluate_run
from aiforge.inference_commands.loading import load_run


def _counting(loaded: Any) -> list[int]:
    calls: list[int] = []
    model = loaded.orchestrator.model
    step = model.validation_step

    def counted(batch: Any, index: int) -> Any:
        calls.append(index)
        return step(batch, index)

    model.validation_step = counted
    return calls


@pytest.mark.parametrize("split", ["val", "train"])
def test_one_sizing_pass_then_the_evaluation(iris_run, tmp_path, split) -> None:
    loaded = load_run(iris_run, quiet_settings(tmp_path))
    batches = {"val": 2, "train": 8}[split]  # 30 and 120 rows in batches of 16
    calls = _counting(loaded)
    result = evaluate_run(loaded, split=split)
    assert len(calls) == 1 + batches
    if split == "val":
        assert result["matches_run_final"] is True
