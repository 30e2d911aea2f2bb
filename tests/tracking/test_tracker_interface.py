"""The tracker interface: what a tracker implements, and that a run uses trackers only through it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.tracking.mlflow_callback import MLflowCallback
from aiforge.tracking.tracker import Tracker
from aiforge.tracking.trackers import check_tracking_store, trackers_for
from plugin_builders import tiny_experiment

REQUIRED = {"on_experiment_start", "on_epoch_end", "on_experiment_end"}


class ListTracker(Tracker):
    """A tracker with only the methods the interface requires: it keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_experiment_start(self, orchestrator: Any) -> None:
        self.events.append(("start", orchestrator.run_dir))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.events.append(("epoch", (epoch, dict(logs))))

    def on_experiment_end(self, orchestrator: Any, status: str, error: BaseException | None = None) -> None:
        self.events.append(("end", status))


def test_mlflow_callback_is_a_tracker():
    assert issubclass(MLflowCallback, Tracker)


def test_the_required_methods_are_the_documented_ones():
    assert Tracker.__abstractmethods__ == REQUIRED
    for name in REQUIRED:
        assert name in (Tracker.__doc__ or ""), name


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_tracker_missing_a_required_method_cannot_be_made(missing):
    methods = {name: getattr(ListTracker, name) for name in REQUIRED - {missing}}
    Partial = type("Partial", (Tracker,), methods)
    with pytest.raises(TypeError, match=missing):
        Partial()


def test_a_minimal_tracker_has_the_defaults_a_run_needs(tmp_path):
    tracker = ListTracker()
    assert tracker.run_id is None
    tracker.check_store(None)  # nothing to check by default
    check_tracking_store([tracker], tmp_path)  # the orchestrator's call, through the interface
    assert tracker.state_dict() == {}


def test_trackers_for_gives_trackers_or_none():
    config = ExperimentConfig(**tiny_experiment("tracked"))
    [tracker] = trackers_for(config, AppSettings(TRACKING=True))
    assert isinstance(tracker, Tracker)
    assert trackers_for(config, AppSettings(TRACKING=False)) == []


def test_a_minimal_tracker_gets_the_hooks_of_a_real_run(tmp_path):
    config = ExperimentConfig(
        **{**tiny_experiment("minimal"), "training_config": {"epochs": 2, "batch_size": 8}}
    )
    settings = AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=False)
    tracker = ListTracker()
    results = Orchestrator(config, settings=settings, callbacks=[tracker]).run_experiment()
    kinds = [kind for kind, _ in tracker.events]
    assert kinds == ["start", "epoch", "epoch", "end"]
    assert tracker.events[0][1] == Path(results["run_dir"])
    assert [tracker.events[i][1][0] for i in (1, 2)] == [0, 1]
    assert {"train_loss", "val_loss"} <= set(tracker.events[2][1][1])
    assert tracker.events[-1][1] == "FINISHED"


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_seed_imports_mlflow_callback_from_utils_callbacks():
    out = _python(
        "import sys\nimport aiforge.utils.callbacks as callbacks\n"
        "print(sorted(m for m in ('torch', 'mlflow') if m in sys.modules))\n"
        "from aiforge.utils.callbacks import MLflowCallback\n"
        "from aiforge.tracking.mlflow_callback import MLflowCallback as Real\n"
        "print(MLflowCallback is Real, callbacks.MLflowCallback is Real)"
    )
    assert out.splitlines() == ["[]", "True True"]


@pytest.mark.parametrize(
    "module", ["aiforge.tracking.mlflow_callback", "aiforge.tracking.tracker", "aiforge.utils"]
)
def test_each_tracking_module_imports_first_in_a_fresh_process(module):
    """No import cycle at run time: aiforge.utils re-exports MLflowCallback lazily."""
    out = _python(f"import sys, {module}\nprint(sorted(m for m in ('torch', 'mlflow') if m in sys.modules))")
    assert out == "[]"


def test_tracking_imports_neither_the_orchestrator_nor_the_trainer():
    """Trackers get the run through their hooks: tracking/ sits above training/, below core's orchestrator."""
    import grimp

    graph = grimp.build_graph("aiforge", exclude_type_checking_imports=False, cache_dir=None)
    tracking = sorted(m for m in graph.modules if m.startswith("aiforge.tracking"))
    assert "aiforge.tracking.tracker" in tracking
    forbidden = {"aiforge.core.orchestrator", "aiforge.training.trainer"}
    found = {m: forbidden & graph.find_modules_directly_imported_by(m) for m in tracking}
    assert {m: f for m, f in found.items() if f} == {}
