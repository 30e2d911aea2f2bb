"""A sweep's pictures and report.html: drawn when it ends, rebuilt by ``aiforge report SWEEP_DIR``,
a picture that needs more trials skipped with a note, and a failure to draw never costing the records."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sweep_files import SPACE, aiforge

from aiforge.config.settings import AppSettings
from aiforge.reporting import sweep_plots
from aiforge.sweeps import Sweep
from plugin_builders import tiny_experiment

PICTURES = ("optimization_history.png", "param_importances.png", "parallel_coordinate.png", "slice.png")


def _sweep(root: Path, name: str, trials: int) -> tuple[dict, Path]:
    settings = AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")
    sweep = {"trials": trials, "metric": "accuracy", "space": SPACE, "sampler": "random"}
    record = Sweep(tiny_experiment(name), sweep, settings=settings).run()
    return record, root / "results" / name / "sweeps" / name


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[dict, Path]:
    return _sweep(tmp_path_factory.mktemp("sweep_report"), "report_sweep", 3)


def test_a_finished_sweep_has_its_pictures_and_a_report(finished) -> None:
    record, folder = finished
    for name in PICTURES:
        assert (folder / name).read_bytes().startswith(b"\x89PNG"), name
    page = (folder / "report.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 4  # self-contained
    assert "<h2>Trials</h2>" in page and "<h2>Best trial</h2>" in page
    assert "val_accuracy (maximize)" in page
    for key, value in record["best_params"].items():
        assert key in page and str(value)[:6] in page
    runs = sorted(p.name for p in (folder.parents[1]).glob("2*"))
    links = re.findall(r'<a href="([^"]+)">', page)
    assert sorted({Path(link).parent.name for link in links}) == runs
    assert all(link.startswith("../../") and link.endswith("/report.html") for link in links)
    best_run = Path(record["best_run_dir"]).name
    best_row = re.search(r'<tr class="best" title="best trial">(.*?)</tr>', page).group(1)
    assert f"<td>{record['best_trial']}</td>" in best_row and best_run in best_row
    assert "sweep:" in page and "trials: 3" in page  # the sweep config


def test_aiforge_report_rebuilds_a_sweep_report(finished) -> None:
    _, folder = finished
    (folder / "report.html").unlink()
    (folder / "slice.png").unlink()
    history = (folder / "optimization_history.png").stat().st_mtime_ns
    results_dir = folder.parents[2]
    done = aiforge(
        results_dir.parent, "report", "report_sweep/sweeps/report_sweep", "--results-dir", "results"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert Path(done.stdout.strip().splitlines()[-1]) == folder / "report.html"
    assert (folder / "slice.png").read_bytes().startswith(b"\x89PNG")  # the missing one drawn again
    assert (folder / "optimization_history.png").stat().st_mtime_ns == history  # the others kept
    page = (folder / "report.html").read_text()
    assert page.count("<img ") == 4 and "<h2>Trials</h2>" in page


def test_a_one_trial_sweep_skips_the_importances_with_a_note(tmp_path: Path) -> None:
    record, folder = _sweep(tmp_path, "one_trial", 1)
    assert record["trials_complete"] == 1
    assert not (folder / "param_importances.png").exists()
    assert (folder / "optimization_history.png").is_file()
    page = (folder / "report.html").read_text()
    assert "Parameter importances not drawn: needs at least 2 complete trials" in page


def test_a_failure_to_draw_costs_the_pictures_never_the_records(tmp_path: Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no canvas today")

    monkeypatch.setattr(sweep_plots, "_draw", broken)
    record, folder = _sweep(tmp_path, "no_canvas", 2)
    assert record == json.loads((folder / "sweep_results.json").read_text())
    assert record["trials_complete"] == 2 and (folder / "trials.csv").is_file()
    assert not any((folder / name).exists() for name in PICTURES)
    assert (
        "Optimisation history could not be drawn: RuntimeError: no canvas today"
        in (folder / "report.html").read_text()
    )

    monkeypatch.setattr("aiforge.reporting.sweep_report.build_sweep_report", broken)
    again = Sweep(  # the same finished sweep again: no report at all, the record as before
        tiny_experiment("no_canvas"),
        {"trials": 2, "metric": "accuracy", "space": SPACE, "sampler": "random"},
        settings=AppSettings(
            RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING"
        ),
    ).run()
    assert again == record
