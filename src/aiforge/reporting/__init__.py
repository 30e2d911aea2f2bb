"""Run reports: PNG plots and a self-contained ``report.html`` in the run folder.

Re-exported lazily, so importing this package never imports matplotlib.
"""

from aiforge._lazy import lazy_exports

_EXPORTS = {
    "build_report": "aiforge.reporting.report",
    "confusion_counts": "aiforge.reporting.plots",
    "plot_confusion_matrix": "aiforge.reporting.plots",
    "plot_curves": "aiforge.reporting.plots",
    "plot_regression": "aiforge.reporting.plots",
    "write_run_plots": "aiforge.reporting.plots",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
