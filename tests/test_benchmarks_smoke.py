"""benchmarks/startup.py: it runs, and it sees what the start-up path imports; training_overhead's report."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torch_features import FUSED_ADAM_ON_CPU

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
STARTUP = BENCHMARKS / "startup.py"
HEAVY = ("torch", "mlflow", "torchmetrics", "matplotlib")


def load_benchmark(name: str, monkeypatch: pytest.MonkeyPatch):
    """benchmarks/<name>.py as a module, its sibling modules importable as when run as a script."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_import_and_help_import_no_heavy_library(tmp_path):
    out = tmp_path / "startup.json"
    result = subprocess.run(
        [sys.executable, str(STARTUP), "--repeats", "1", "--commands", "import", "help", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    measured = json.loads(out.read_text())
    for key in ("import", "help"):
        assert measured[key]["median_s"] > 0
        assert not set(measured[key]["heavy_imported"]) & set(HEAVY), measured[key]
    assert "| `python -m aiforge --help` |" in result.stdout  # the Markdown table


def test_import_profile_is_parsed(tmp_path, monkeypatch):
    startup = load_benchmark("startup", monkeypatch)
    modules = startup.imports([sys.executable, "-c", "import json.decoder"], str(tmp_path))
    assert "json.decoder" in dict(modules)
    fake = [("aiforge", 10), ("torch.nn", 5), ("matplotlib", 1), ("torchvision", 1)]
    assert startup.heavy_modules(fake) == ["torch", "matplotlib"]


def test_columns_take_turns_in_alternating_order(monkeypatch, capsys):
    overhead = load_benchmark("overhead_report", monkeypatch)
    calls: list[str] = []

    def run(key: str, seconds: float):
        def epochs() -> list[float]:
            calls.append(key)
            return [9.0, seconds, seconds]  # the first (warm-up) epoch is dropped

        return epochs

    runs = {"hand_slicing": run("hand_slicing", 0.02), "aiforge_slicing": run("aiforge_slicing", 0.03)}
    columns = overhead.measure(runs, repeats=3)
    hand, aiforge = "hand_slicing", "aiforge_slicing"
    assert calls == [hand, aiforge, aiforge, hand, hand, aiforge]
    assert columns["aiforge_slicing"] == {"median_s": 0.03, "spread_s": 0.0, "repeat_medians_s": [0.03] * 3}
    assert "repeat 3/3 done" in capsys.readouterr().out


def test_training_overhead_ratios_and_markdown_table(monkeypatch, capsys):
    overhead = load_benchmark("overhead_report", monkeypatch)

    def column(median: float, spread: float, repeats: list[float]) -> dict[str, object]:
        return {"median_s": median, "spread_s": spread, "repeat_medians_s": repeats}

    columns = {  # ms: median ± spread; no Lightning column (as without the `bench` extra)
        "hand_slicing": column(0.020, 0.001, [0.010, 0.030, 0.020]),
        "aiforge_slicing": column(0.030, 0.002, [0.012, 0.033, 0.040]),  # repeat ratios 1.2, 1.1, 2.0
        "hand_per_item": column(0.040, 0.0005, [0.040, 0.040]),
        "aiforge_per_item": column(0.050, 0.0, [0.050, 0.050]),
        "aiforge_defaults": column(0.060, 0.003, [0.060, 0.060, 0.060]),
    }
    ratios = overhead.ratios_of(columns)
    assert ratios == pytest.approx(  # the Lightning ratios are left out: that column did not run
        {
            "aiforge_vs_hand_slicing": 1.2,  # the median of each repeat's ratio, not 30 / 20
            "aiforge_vs_hand_per_item": 1.25,
            "aiforge_defaults_vs_hand_slicing": 3.0,
        }
    )
    assert "AIForge / hand-written, slicing              1.200" in capsys.readouterr().out
    table = overhead.markdown_table({"digits": {"columns": columns, "ratios": ratios}}).splitlines()
    assert table == [
        "| workload | hand slicing | AIForge lean slicing | ratio | hand per-item | AIForge per-item | ratio "
        "| Lightning per-item | Lightning / AIForge per-item | AIForge defaults |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| digits | 20.0 ± 1.0 | 30.0 ± 2.0 | 1.20x | 40.0 ± 0.5 | 50.0 ± 0.0 | 1.25x "
        "| n/a | n/a | 60.0 ± 3.0 |",
    ]


@pytest.mark.parametrize(("choice", "fused"), [("same", FUSED_ADAM_ON_CPU), ("torch-default", False)])
def test_baselines_get_aiforge_s_adam_or_torch_s(monkeypatch, choice, fused):
    training = load_benchmark("training_overhead", monkeypatch)
    model = torch.nn.Linear(3, 2)
    optimizer = training.Options(baseline_optimizer=choice).optimizer_for(model)
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.param_groups[0]["lr"] == 1e-3
    assert bool(optimizer.defaults["fused"]) is fused


def test_per_item_loaders_get_aiforge_s_workers_and_pinning(monkeypatch):
    """--num-workers: the hand-written and Lightning loaders get what AIForge's own would."""
    training = load_benchmark("training_overhead", monkeypatch)
    rows = {"features": torch.arange(12.0).reshape(6, 2), "labels": torch.arange(6) % 2}
    data = training.Prepared(rows, rows, rows, fresh_model=lambda: None)
    for loader in training.per_item_loaders(data):  # auto on a CPU: no workers, nothing pinned
        assert (loader.num_workers, loader.pin_memory, loader.persistent_workers) == (0, False, False)
    train, val = training.per_item_loaders(data, training.Options(num_workers=2))
    for loader in (train, val):
        assert (loader.num_workers, loader.pin_memory, loader.persistent_workers) == (2, False, True)
    assert training.experiment("digits", training.Options(num_workers=2)).training_config.num_workers == 2


def test_num_workers_option_takes_auto_or_a_count(monkeypatch, capsys):
    training = load_benchmark("training_overhead", monkeypatch)
    assert training.workers_count("auto") == "auto" and training.workers_count("3") == 3
    for bad in ("-1", "two"):
        with pytest.raises(SystemExit) as exit_info:
            training.main(["--num-workers", bad])
        assert exit_info.value.code == 2
        assert "expected 'auto' or a whole number" in capsys.readouterr().err


@pytest.mark.slow
def test_training_overhead_runs_end_to_end(tmp_path):
    record = tmp_path / "result.json"
    command = [sys.executable, str(BENCHMARKS / "training_overhead.py"), "--workloads", "digits"]
    options = ["--epochs", "2", "--repeats", "1", "--baseline-optimizer", "torch-default"]
    options += ["--json", str(record)]
    done = subprocess.run(command + options, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(record.read_text())
    assert result["options"]["baseline_optimizer"] == "torch-default"
    columns = result["workloads"]["digits"]["columns"]
    assert {"hand_slicing", "aiforge_slicing", "hand_per_item", "aiforge_per_item"} <= columns.keys()
    assert all(column["median_s"] > 0 for column in columns.values())
    assert "| digits |" in done.stdout


def test_a_run_may_return_several_columns(monkeypatch):
    """--paired: one run returns both loops' epoch times; the columns come out in table order."""
    overhead = load_benchmark("overhead_report", monkeypatch)

    def paired() -> dict[str, list[float]]:
        return {"aiforge_slicing": [9.0, 0.03, 0.03], "hand_slicing": [9.0, 0.02, 0.02]}

    columns = overhead.measure({"slicing": paired}, repeats=2)
    assert list(columns) == ["hand_slicing", "aiforge_slicing"]
    assert columns["hand_slicing"]["repeat_medians_s"] == [0.02, 0.02]
    assert overhead.ratios_of(columns) == pytest.approx({"aiforge_vs_hand_slicing": 1.5})


def test_paired_clock_keeps_the_hand_written_epoch_out_of_aiforge_s(monkeypatch):
    training = load_benchmark("training_overhead", monkeypatch)
    now = [0.0]

    class Hand:  # a hand-written epoch of 5 s, on the fake clock
        def epoch(self) -> float:
            now[0] += 5.0
            return 5.0

    clock = training.PairedClock(Hand(), lambda: now[0])
    clock.on_train_start(None)
    for seconds in (1.0, 2.0):  # two AIForge epochs, each followed by a hand-written one
        now[0] += seconds
        clock.on_epoch_end(0, {})
    assert clock.times == [1.0, 2.0] and clock.hand_times == [5.0, 5.0]


@pytest.mark.slow
def test_training_overhead_paired_runs_end_to_end(tmp_path):
    record = tmp_path / "result.json"
    command = [sys.executable, str(BENCHMARKS / "training_overhead.py"), "--workloads", "digits", "--paired"]
    options = ["--epochs", "3", "--repeats", "1", "--num-workers", "1", "--json", str(record)]
    done = subprocess.run(command + options, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(record.read_text())
    assert result["paired"] is True
    assert result["per_item_loaders"] == {
        "num_workers": 1,
        "pin_memory": False,
        "persistent_workers": True,
    }
    columns = result["workloads"]["digits"]["columns"]
    assert set(columns) == {"hand_slicing", "aiforge_slicing", "hand_per_item", "aiforge_per_item"}
    assert all(len(column["repeat_medians_s"]) == 1 and column["median_s"] > 0 for column in columns.values())
    ratios = result["workloads"]["digits"]["ratios"]
    assert set(ratios) == {"aiforge_vs_hand_slicing", "aiforge_vs_hand_per_item"}


@pytest.mark.slow
def test_epoch_costs_times_aiforge_s_parts_inside_a_paired_run():
    command = [sys.executable, str(BENCHMARKS / "epoch_costs.py"), "--repeats", "1", "--epochs", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {line[:36].strip(): line[36:].split() for line in done.stdout.splitlines() if "  " in line}
    calls_per_epoch, _, us_per_epoch = rows["metrics: compute (torchmetrics)"]
    assert float(calls_per_epoch) == 1.0 and float(us_per_epoch) > 0  # one compute per validation pass
    assert float(rows["training pass (whole)"][0]) == 1.0
    assert "hand-written validation pass" in done.stdout


# -- benchmarks/sweep_overhead.py -------------------------------------------------------------


def test_sweep_overhead_spans_the_sweep_s_range_and_takes_the_median_extra(monkeypatch, capsys):
    bench = load_benchmark("sweep_overhead", monkeypatch)
    rates = bench.learning_rates(3)
    assert rates[0] == pytest.approx(bench.LOW) and rates[-1] == pytest.approx(bench.HIGH)
    seconds = {"plain": iter([2.0, 2.0, 4.0]), "sweep": iter([3.0, 2.2, 4.4])}  # per 2 trials
    ways = {key: (lambda key=key: next(seconds[key])) for key in seconds}
    result = bench.measure(ways, trials=2, repeats=3)
    assert result["plain"]["repeats_s_per_trial"] == [1.0, 1.0, 2.0]
    assert result["extra_s_per_trial"]["median"] == pytest.approx(0.2)  # of 0.5, 0.1, 0.2
    assert result["ratio"]["median"] == pytest.approx(1.1)  # of 1.5, 1.1, 1.1
    assert "repeat 3/3 done" in capsys.readouterr().out


@pytest.mark.slow
def test_sweep_overhead_runs_end_to_end(tmp_path):
    record = tmp_path / "result.json"
    command = [sys.executable, str(BENCHMARKS / "sweep_overhead.py"), "--trials", "1", "--repeats", "1"]
    done = subprocess.run(
        [*command, "--epochs", "1", "--json", str(record)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(record.read_text())
    assert result["plain"]["median_s_per_trial"] > 0 and result["sweep"]["median_s_per_trial"] > 0
    assert result["ratio"]["median"] > 0 and "sweep bookkeeping per trial" in done.stdout
