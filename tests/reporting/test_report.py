"""report.html and `aiforge report`: hand-made run folders, a minimal one, and one real iris run."""

from __future__ import annotations

import argparse
import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from aiforge.cli.report import cmd_report, register
from aiforge.config.model_configs import ExperimentConfig, SimpleNNConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.errors import DataError
from aiforge.reporting import build_report, confusion_counts, write_run_plots

IMG_PREFIX = '<img src="data:image/png;base64,'
HISTORY = (
    "epoch,train_loss,val_loss,val_accuracy,lr\n"
    "1,1.05,0.9871,0.5333,0.01\n"
    "2,0.71,0.6123,0.8667,0.01\n"
    "3,0.52,0.6502,0.9000,0.01\n"
)
CONFIG = {
    "experiment_name": "fake_exp",
    "model_plugin": "simple_nn",
    "dataset_plugin": "iris",
    "dataset_args": {"note": "<script>alert('config')</script>"},
    "training_config": {"epochs": 3, "early_stopping_monitor": "val_loss", "early_stopping_mode": "min"},
}


def minimal_run(root: Path, history: str = HISTORY) -> Path:
    """What a run leaves after its first epoch: config.yaml and metrics.csv only."""
    run_dir = root / "results" / "fake_exp" / "20240101-000000-abcdef"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    (run_dir / "metrics.csv").write_text(history, encoding="utf-8")
    return run_dir


def finished_run(root: Path) -> Path:
    run_dir = minimal_run(root)
    results = {
        "experiment_name": "fake_exp",
        "task": "classification",
        "final_val_loss": 0.6123,
        "final_val_metrics": {"accuracy": 0.8667},
        "best_epoch": 2,
        "monitor": "val_loss",
        "best_monitor_value": 0.6123,
        "epochs_completed": 3,
        "stopped_early": False,
        "val_samples": 4,
    }
    environment = {"python": "3.11.7", "hostname": "<b>host</b>", "packages": {"torch": "2.3.0"}}
    labels = {"task": "classification", "classes": ["setosa", "versicolor", "virginica"]}
    for name, data in (
        ("final_results.json", results),
        ("environment.json", environment),
        ("label_mapping.json", labels),
    ):
        (run_dir / name).write_text(json.dumps(data), encoding="utf-8")
    (run_dir / "val_predictions.csv").write_text("target,prediction\n0,0\n1,1\n2,1\n2,2\n", encoding="utf-8")
    return run_dir


def embedded(html: str, png: Path) -> bool:
    return IMG_PREFIX + base64.b64encode(png.read_bytes()).decode("ascii") in html


def test_report_of_a_finished_run(tmp_path):
    run_dir = finished_run(tmp_path)
    path = build_report(run_dir)
    assert path == run_dir.resolve() / "report.html"
    html = path.read_text(encoding="utf-8")
    assert "<title>AIForge report: fake_exp — 20240101-000000-abcdef</title>" in html
    assert "<tr><td>loss</td><td>0.6123</td></tr><tr><td>accuracy</td><td>0.8667</td></tr>" in html
    assert "<tr><th>best epoch</th><td>2</td></tr>" in html
    assert "<tr><th>monitor</th><td>val_loss = 0.6123</td></tr>" in html
    assert '<tr class="best" title="best epoch"><td>2</td><td>0.7100</td>' in html
    for name in ("loss_curves.png", "metric_curves.png", "confusion_matrix.png"):
        assert embedded(html, run_dir / name), name
    assert "<tr><th>packages.torch</th><td>2.3.0</td></tr>" in html
    assert "experiment_name: fake_exp" in html


def test_report_escapes_file_contents_and_loads_nothing_from_outside(tmp_path):
    html = build_report(finished_run(tmp_path)).read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;config&#x27;)&lt;/script&gt;" in html
    assert "&lt;b&gt;host&lt;/b&gt;" in html
    assert re.findall(r'(?:src|href)="(?!data:)', html) == []


def test_report_of_a_minimal_run_notes_what_is_missing(tmp_path):
    run_dir = minimal_run(tmp_path)
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert embedded(html, run_dir / "loss_curves.png")
    assert embedded(html, run_dir / "metric_curves.png")
    assert "final_results.json is missing or unreadable" in html
    assert "environment.json is missing or unreadable" in html
    # Without final_results.json the best epoch comes from the monitor's column.
    assert "<tr><th>best epoch</th><td>2 (from metrics.csv: the run did not finish)</td></tr>" in html
    assert "No val_predictions.csv in the run folder." in html
    assert html.count(IMG_PREFIX) == 2


def test_report_keeps_existing_plots_unless_redrawn(tmp_path):
    run_dir = finished_run(tmp_path)
    build_report(run_dir)
    curves = run_dir / "loss_curves.png"
    curves.write_bytes(b"stale")
    assert "c3RhbGU=" in build_report(run_dir).read_text(encoding="utf-8")  # base64 of b"stale"
    build_report(run_dir, redraw=True)
    assert curves.read_bytes()[:4] == b"\x89PNG"


def test_report_of_a_run_whose_predictions_cannot_be_drawn_notes_it(tmp_path):
    run_dir = finished_run(tmp_path)
    (run_dir / "val_predictions.csv").write_text("target,prediction\n0,0.5\n", encoding="utf-8")
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert "Some plots could not be drawn: predictions must be class indices" in html


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "nowhere", "no run folder at"),
        (lambda root: root, "is not an AIForge run folder: it has no config.yaml and no metrics.csv"),
    ],
)
def test_report_command_rejects_what_is_not_a_run_folder(tmp_path, make, message):
    args = argparse.Namespace(run_dir=make(tmp_path), redraw=False, debug=False, log_level=None)
    with pytest.raises(DataError, match=message):
        cmd_report(args)


def test_report_command_prints_the_report_path(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="aiforge")
    register(parser.add_subparsers(dest="command"), argparse.ArgumentParser(add_help=False))
    run_dir = minimal_run(tmp_path)
    args = parser.parse_args(["report", str(run_dir), "--redraw"])
    assert (args.command, args.run_dir, args.redraw) == ("report", run_dir, True)
    assert args.handler is cmd_report
    assert cmd_report(args) == 0
    assert capsys.readouterr().out.strip() == str(run_dir.resolve() / "report.html")


def test_plots_and_report_of_a_real_iris_run(tmp_path):
    config = ExperimentConfig(
        experiment_name="iris_report",
        model_plugin="simple_nn",
        dataset_plugin="iris",
        model_config=SimpleNNConfig(hidden_dim=8),
        training_config=TrainingConfig(epochs=2, batch_size=16),
    )
    settings = AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=False)
    orchestrator = Orchestrator(config, settings=settings)
    results = orchestrator.run_experiment()
    run_dir = Path(results["run_dir"])

    model = orchestrator.model
    model.eval()
    targets, predictions = [], []
    with torch.no_grad():
        for index, batch in enumerate(orchestrator.val_dataloader):
            targets.append(batch["labels"])
            predictions.append(model.validation_step(batch, index)["predictions"].argmax(dim=-1))
    targets, predictions = torch.cat(targets), torch.cat(predictions)

    written = write_run_plots(run_dir, targets, predictions)
    assert {p.name for p in written} == {"loss_curves.png", "metric_curves.png", "confusion_matrix.png"}
    counts = confusion_counts(targets, predictions, 3)
    assert counts.sum() == results["val_samples"]
    accuracy = np.trace(counts) / counts.sum()
    assert accuracy == pytest.approx(results["final_val_metrics"]["accuracy"], abs=1e-6)

    html = build_report(run_dir).read_text(encoding="utf-8")
    assert html.count(IMG_PREFIX) == 3
    assert f"<td>{results['final_val_metrics']['accuracy']:.4f}</td>" in html
    assert f"<tr><th>best epoch</th><td>{results['best_epoch']}</td></tr>" in html
