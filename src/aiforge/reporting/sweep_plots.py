"""Pictures of a sweep as PNG files, drawn by Optuna's matplotlib visualisations from a study:
optimisation history, parameter importances, parallel coordinates and slices.

Optuna draws through pyplot: when nothing in the process has imported pyplot yet, the Agg backend
is chosen (no display needed, nothing is shown); otherwise the figures are drawn with interactive
mode off and closed once saved, so a notebook's own figures and backend are left as they were.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiforge.runs import files as run_files
from aiforge.runtime.log import logger

HISTORY_FILE = "optimization_history.png"
IMPORTANCES_FILE = "param_importances.png"
PARALLEL_FILE = "parallel_coordinate.png"
SLICE_FILE = "slice.png"
PICTURES = (
    (HISTORY_FILE, "Optimisation history"),
    (IMPORTANCES_FILE, "Parameter importances"),
    (PARALLEL_FILE, "Parallel coordinates"),
    (SLICE_FILE, "Slices"),
)


def write_sweep_plots(folder: Path, study: Any, overwrite: bool = True) -> tuple[list[Path], list[str]]:
    """Every picture the study's trials allow, saved atomically in ``folder``.

    A picture that needs more trials than there are (importances need two complete trials whose
    parameters differ) is skipped with a note, as is one that fails to draw: never an error.
    ``overwrite=False`` draws only the missing files. Returns the files drawn and the notes.
    """
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    keys = {key for trial in complete for key in trial.params}
    varying = [key for key in keys if len({repr(trial.params.get(key)) for trial in complete}) > 1]
    reasons = {
        HISTORY_FILE: "" if complete else "no complete trial yet",
        IMPORTANCES_FILE: (
            "needs at least 2 complete trials whose parameters differ"
            if len(complete) < 2 or not varying
            else ""
        ),
        PARALLEL_FILE: "" if complete and complete[0].params else "no complete trial yet",
        SLICE_FILE: "" if complete else "no complete trial yet",
    }
    written: list[Path] = []
    notes: list[str] = []
    for name, caption in PICTURES:
        path = Path(folder) / name
        if not overwrite and path.is_file():
            continue
        if reasons[name]:
            notes.append(f"{caption} not drawn: {reasons[name]}.")
            continue
        try:
            written.append(_draw(path, _plotters()[name], study))
        except Exception as err:  # a picture is never worth the sweep's records
            logger.opt(exception=err).debug(f"{name} failed")
            notes.append(f"{caption} could not be drawn: {type(err).__name__}: {err}")
    return written, notes


def _plotters() -> dict[str, Callable[[Any], Any]]:
    _choose_backend()
    from optuna.visualization import matplotlib as vis

    return {
        HISTORY_FILE: vis.plot_optimization_history,
        IMPORTANCES_FILE: vis.plot_param_importances,
        PARALLEL_FILE: vis.plot_parallel_coordinate,
        SLICE_FILE: vis.plot_slice,
    }


def _choose_backend() -> None:
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")


def _draw(path: Path, plot: Callable[[Any], Any], study: Any) -> Path:
    import matplotlib
    import numpy as np
    from matplotlib import pyplot as plt

    # rc_context: Optuna sets pyplot's style (ggplot) for the process; this puts the old one back
    with matplotlib.rc_context(), plt.ioff(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib module experimental
        axes = plot(study)
        figure = np.asarray(axes, dtype=object).flat[0].figure
        try:
            with run_files.atomic_path(path) as tmp:
                figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        finally:
            with contextlib.suppress(Exception):
                plt.close(figure)
    return path
