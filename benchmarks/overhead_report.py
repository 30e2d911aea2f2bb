"""The report of benchmarks/training_overhead.py: column names, medians and spreads, ratios, and
the Markdown table for the README."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

COLUMNS = {
    "hand_slicing": "hand-written, slicing",
    "aiforge_slicing": "AIForge lean, built-in (slicing)",
    "hand_per_item": "hand-written, per-item DataLoader",
    "aiforge_per_item": "AIForge lean, per-item plugin",
    "lightning_per_item": "Lightning, per-item DataLoader",
    "aiforge_defaults": "AIForge defaults (MLflow on)",
}
RATIOS = {
    "aiforge_vs_hand_slicing": ("aiforge_slicing", "hand_slicing", "AIForge / hand-written, slicing"),
    "aiforge_vs_hand_per_item": ("aiforge_per_item", "hand_per_item", "AIForge / hand-written, per-item"),
    "lightning_vs_hand_per_item": (
        "lightning_per_item",
        "hand_per_item",
        "Lightning / hand-written, per-item",
    ),
    "lightning_vs_aiforge_per_item": (
        "lightning_per_item",
        "aiforge_per_item",
        "Lightning / AIForge, per-item (speed-up)",
    ),
    "aiforge_defaults_vs_hand_slicing": (
        "aiforge_defaults",
        "hand_slicing",
        "AIForge defaults / hand, slicing",
    ),
}


Run = Callable[[], "list[float] | dict[str, list[float]]"]


def measure(runs: dict[str, Run], repeats: int) -> dict[str, dict[str, Any]]:
    """Median over all timed epochs of all repeats; spread = max - min of the repeats' medians.

    The columns take turns within each repeat, so a busy spell of a shared machine slows
    them alike instead of one column's repeats; every other repeat runs them in reverse order,
    so no column always runs after the same one (whose memory and caches it inherits). A run
    returns its epoch times, or several columns' (``--paired``: two loops taking turns).
    """
    timed: dict[str, list[list[float]]] = {}
    for repeat in range(repeats):
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for key in order:
            produced = runs[key]()
            for column, times in produced.items() if isinstance(produced, dict) else [(key, produced)]:
                # The first epoch warms caches and allocators (and compiles).
                timed.setdefault(column, []).append(times[1:])
        print(f"  repeat {repeat + 1}/{repeats} done", flush=True)
    columns = {}
    for key in sorted(timed, key=list(COLUMNS).index):
        repeat_times = timed[key]
        medians = [statistics.median(times) for times in repeat_times]
        median = statistics.median([t for times in repeat_times for t in times])
        spread = max(medians) - min(medians)
        print(f"  {COLUMNS[key]:<36} {median * 1000:9.2f} ms/epoch   spread {spread * 1000:7.2f} ms")
        columns[key] = {"median_s": median, "spread_s": spread, "repeat_medians_s": medians}
    return columns


def ratios_of(columns: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The :data:`RATIOS` for the columns that ran, printed too: the median over the repeats of
    each repeat's ratio. The two columns of a repeat ran seconds apart, so a shared machine's
    slow and fast minutes, which move whole repeats, cancel out of the ratio."""
    ratios = {}
    for key, (top, bottom, label) in RATIOS.items():
        if top in columns and bottom in columns:
            pairs = zip(columns[top]["repeat_medians_s"], columns[bottom]["repeat_medians_s"], strict=True)
            ratios[key] = statistics.median(a / b for a, b in pairs)
            print(f"  {label:<44} {ratios[key]:.3f}")
    return ratios


TABLE = (  # the README table's columns after "workload": (header, "columns" or "ratios", key)
    ("hand slicing", "columns", "hand_slicing"),
    ("AIForge lean slicing", "columns", "aiforge_slicing"),
    ("ratio", "ratios", "aiforge_vs_hand_slicing"),
    ("hand per-item", "columns", "hand_per_item"),
    ("AIForge per-item", "columns", "aiforge_per_item"),
    ("ratio", "ratios", "aiforge_vs_hand_per_item"),
    ("Lightning per-item", "columns", "lightning_per_item"),
    ("Lightning / AIForge per-item", "ratios", "lightning_vs_aiforge_per_item"),
    ("AIForge defaults", "columns", "aiforge_defaults"),
)


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per workload, ms per epoch (median ± spread) and ratios, ready for the README."""

    def cell(result: dict[str, Any], kind: str, key: str) -> str:
        value = result[kind].get(key)
        if value is None:
            return "n/a"
        if kind == "ratios":
            return f"{value:.2f}x"
        return f"{value['median_s'] * 1000:.1f} ± {value['spread_s'] * 1000:.1f}"

    header = ["workload", *(title for title, _, _ in TABLE)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workload, result in results.items():
        cells = [workload, *(cell(result, kind, key) for _, kind, key in TABLE)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
