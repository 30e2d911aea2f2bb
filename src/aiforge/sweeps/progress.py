"""A sweep's progress: on a terminal a live display (trials done, running, pruned and failed, the best
value so far and its parameters) redrawn from the study, so it counts the trials of every worker
process and machine; off a terminal, one log line per finished trial (:func:`trial_line`)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiforge.sweeps import records
from aiforge.sweeps.config import SweepConfig

BAR_WIDTH = 40  # the most columns the bar takes, as a run's progress display
STATES = (("done", "complete"), ("running", "running"), ("pruned", "pruned"), ("failed", "failed"))
REFRESH_PER_SECOND = 1.0  # each redraw reads the study's trials from its storage


def trial_line(
    number: int,
    state: str,
    metric: str,
    value: float | None,
    record: dict[str, Any],
    finished: int,
    wanted: int,
) -> str:
    """The log line for one finished (or failed) trial: its state and value, the sweep's count, the
    best so far (``record``: the sweep_results record after this trial)."""
    shown = "" if value is None else f" {metric} {value:.4g}"
    best = record.get("best_value")
    best_text = (
        "none yet" if best is None else f"{best:.4g} (trial {record['best_trial']}, {record['best_params']})"
    )
    return f"sweep: trial {number} {state}{shown} | {finished}/{wanted} finished | best {best_text}"


def tally(trials: list[Any]) -> dict[str, int]:
    """Trials complete, pruned, running and failed (a trial cut off by a kill and run again, or a
    surplus one, is not a failure)."""
    counts = records.counts(trials)
    return {
        "complete": counts.get("COMPLETE", 0),
        "pruned": counts.get("PRUNED", 0),
        "running": counts.get("RUNNING", 0),
        "failed": len(records.failed(trials)),
    }


def render(study_name: str, sweep: SweepConfig, trials: list[Any]) -> Any:
    """The display for ``trials`` (Optuna FrozenTrials): a rich renderable, no terminal needed."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    count = tally(trials)
    finished = count["complete"] + count["pruned"]
    head = Table.grid(padding=(0, 1))
    head.add_column(no_wrap=True)
    head.add_column(max_width=BAR_WIDTH)
    head.add_column(no_wrap=True)
    head.add_row(
        f"sweep '{study_name}'",
        ProgressBar(total=max(1, sweep.trials), completed=min(finished, sweep.trials)),
        f"{finished}/{sweep.trials} trials",
    )
    states = "  ".join(f"{label} {count[key]}" for label, key in STATES)
    best = records.best_trial(trials, sweep.resolved_direction)
    if best is None:
        best_text = f"best {sweep.metric}: none yet"
    else:
        params = ", ".join(f"{key}={_short(value)}" for key, value in best.params.items())
        best_text = f"best {sweep.metric} {best.value:.4g} (trial {best.number}): {params}"
    return Group(head, Text(states), Text(best_text, overflow="fold"))


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class SweepProgress:
    """The live display while the sweep runs (``with SweepProgress(study, name, sweep):``); it reads
    the study at each redraw, on rich's refresh thread, so it needs no calls from the trials."""

    def __init__(self, study: Any, study_name: str, sweep: SweepConfig) -> None:
        self.study = study
        self.study_name = study_name
        self.sweep = sweep
        self._live: Any = None
        self._last: Any = None

    def renderable(self) -> Any:
        """The display now; the last one while the storage does not answer (the sweep reports that)."""
        try:
            self._last = render(self.study_name, self.sweep, self.study.get_trials(deepcopy=False))
        except Exception:
            if self._last is None:
                from rich.text import Text

                return Text(f"sweep '{self.study_name}'")
        return self._last

    def __enter__(self) -> SweepProgress:
        from rich.live import Live

        from aiforge.runtime.console import get_console

        self._live = Live(
            get_renderable=self.renderable,
            console=get_console(),
            refresh_per_second=REFRESH_PER_SECOND,
        )
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()  # draws the last state once more and leaves it on the screen
            self._live = None
