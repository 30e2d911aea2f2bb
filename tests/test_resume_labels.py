"""A resume checks label_mapping.json, not only that it exists: a damaged one, or one naming other
classes than the data gives, stops the resume (exit 2, naming the file) before anything in the
folder changes. Regression: it was accepted with a warning, and predict, evaluate and export then
failed on the finished run (or named its outputs by class index)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiforge.runs.lock import LOCK_FILE
from test_resume import aiforge, workspace  # noqa: F401  (workspace: the plugin folder fixture)
from test_resume_checks import killed_run, run_dir, snapshot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def _record(run_dir: Path) -> dict[str, Any]:  # noqa: F811
    return json.loads((run_dir / "label_mapping.json").read_text(encoding="utf-8"))


DAMAGES = {
    "not JSON": (lambda record: "{\n", "cannot read"),
    "a bare list": (lambda record: json.dumps(record["classes"][:2]), "not what a run writes"),
    "too few classes": (
        lambda record: json.dumps({**record, "classes": record["classes"][:2]}),
        "2 classes",
    ),
    "not names": (
        lambda record: json.dumps({**record, "classes": [[name] for name in record["classes"]]}),
        "must be names",
    ),
    "other names": (
        lambda record: json.dumps({**record, "classes": [f"c{name}" for name in record["classes"]]}),
        "differ",
    ),
    "another task": (lambda record: json.dumps({**record, "task": "regression"}), "regression"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_resume_with_a_bad_label_mapping_is_refused(
    workspace: Path,  # noqa: F811
    run_dir: Path,  # noqa: F811
    damage: str,
) -> None:
    original = (run_dir / "label_mapping.json").read_bytes()
    assert _record(run_dir)["task"] == "classification" and len(_record(run_dir)["classes"]) > 2
    make, what = DAMAGES[damage]
    (run_dir / "label_mapping.json").write_text(make(_record(run_dir)), encoding="utf-8")
    before = snapshot(run_dir)

    refused = aiforge(workspace, "run", "--resume", str(run_dir))
    assert refused.returncode == 2, refused.stderr
    assert "label_mapping.json" in refused.stderr and what in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    after = snapshot(run_dir)
    after.pop(LOCK_FILE, None), before.pop(LOCK_FILE, None)  # the killed run's stale lock is cleared
    log_before, log_after = before.pop("aiforge_debug.log"), after.pop("aiforge_debug.log")
    assert log_after.startswith(log_before)  # the refusal is logged after what was there
    assert after == before  # checkpoints, metrics, the file itself: nothing else written

    (run_dir / "label_mapping.json").write_bytes(original)  # put back, the same run resumes and finishes
    done = aiforge(workspace, "run", "--resume", str(run_dir))
    assert done.returncode == 0, done.stderr
    assert (run_dir / "label_mapping.json").read_bytes() == original
