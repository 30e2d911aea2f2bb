"""End-to-end: the real `aiforge` command in a subprocess, on small real data, in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).parent / "aiforge"
SMALL = [
    "-o",
    "dataset_args.num_samples=240",
    "-o",
    "training_config.epochs=2",
    "-o",
    "training_config.early_stopping_patience=null",
]


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, module: bool = True):
    command = [sys.executable, "-m", "aiforge", *args] if module else [str(SCRIPT), *args]
    full_env = {**os.environ, "AIFORGE_LOG_LEVEL": "INFO", **(env or {})}
    full_env.pop("AIFORGE_RESULTS_DIR", None)
    return subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def only_run_dir(root: Path) -> Path:
    (run_dir,) = [p for p in root.glob("results/*/*") if p.is_dir()]
    return run_dir


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


SEED_CONFIG = {
    "experiment_name": "cli_exp",
    "model_plugin": "simple_nn",
    "dataset_plugin": "simple_nn",
    "data_path": "data/dummy_classification_data.pkl",
    "dataset_args": {"num_samples": 240, "input_dim": 6, "num_classes": 3},
    "preprocess_args": {"scaler_type": "standard"},
    "model_config": {"hidden_dim": 16},
    "training_config": {"epochs": 3, "batch_size": 32, "learning_rate": 0.01},
}


def test_default_experiment_reaches_095_accuracy(tmp_path):
    result = run_cli("run", cwd=tmp_path, module=False)
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path)
    assert f"Run finished: {run_dir}" in result.stdout
    assert "final val_accuracy" in result.stdout
    final = json.loads((run_dir / "final_results.json").read_text())
    assert final["final_val_metrics"]["accuracy"] >= 0.95
    assert final["train_samples"] + final["val_samples"] == 1797
    for name in (
        "config.yaml",
        "environment.json",
        "metrics.csv",
        "final_model.pt",
        "preprocessor.safetensors",
        "label_mapping.json",
        "aiforge_debug.log",
    ):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    assert (run_dir / "checkpoints" / "last.pt").is_file()


@pytest.mark.parametrize("suffix", ["yaml", "json", "toml"])
def test_config_formats_and_overrides(tmp_path, suffix):
    path = tmp_path / f"exp.{suffix}"
    if suffix == "yaml":
        write_yaml(path, SEED_CONFIG)
    elif suffix == "json":
        path.write_text(json.dumps(SEED_CONFIG))
    else:
        lines = [f'{k} = "{v}"' for k, v in SEED_CONFIG.items() if isinstance(v, str)]
        for table in ("dataset_args", "preprocess_args", "model_config", "training_config"):
            lines.append(f"[{table}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in SEED_CONFIG[table].items()]
        path.write_text("\n".join(lines) + "\n")
    result = run_cli(
        "run", str(path), "-o", "training_config.epochs=2", "-o", "model_config.hidden_dim=24", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path)
    history = (run_dir / "metrics.csv").read_text().splitlines()
    assert len(history) == 1 + 2  # header + the overridden epoch count
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["model_config"]["hidden_dim"] == 24
    assert saved["model_config"]["input_dim"] == 6  # filled in from the data
    assert saved["model_config"]["output_dim"] == 3


def test_saved_config_reruns_to_the_same_metrics(tmp_path):
    write_yaml(tmp_path / "exp.yaml", SEED_CONFIG)
    assert run_cli("run", "exp.yaml", cwd=tmp_path).returncode == 0
    first = only_run_dir(tmp_path)
    rerun = run_cli("run", str(first / "config.yaml"), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    second = next(p for p in tmp_path.glob("results/cli_exp/*") if p != first)
    assert (first / "metrics.csv").read_text() == (second / "metrics.csv").read_text()


def test_mixed_precision_and_compile_from_the_config(tmp_path):
    """bf16 autocast and a compiled model (dynamo with the quick eager backend) through the CLI;
    the run's records stay float32 and evaluate reproduces its metrics."""
    write_yaml(tmp_path / "exp.yaml", SEED_CONFIG)
    options = ["-o", "training_config.precision=bf16-mixed", "-o", "training_config.compile={backend: eager}"]
    result = run_cli("run", "exp.yaml", *options, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())["training_config"]
    assert saved["precision"] == "bf16-mixed" and saved["compile"]["backend"] == "eager"
    weights = torch.load(run_dir / "final_model.pt", weights_only=True)
    assert all(value.dtype == torch.float32 for value in weights.values())
    final = json.loads((run_dir / "final_results.json").read_text())
    evaluated = run_cli("evaluate", str(run_dir), "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.dumps(final["final_val_metrics"]["accuracy"]) in evaluated.stdout
    bad = run_cli("run", "exp.yaml", "-o", "training_config.precision=fp8", cwd=tmp_path)
    assert bad.returncode == 2 and "training_config.precision" in bad.stderr


def test_bundled_tabular_example_maps_labels(tmp_path):
    result = run_cli("run", "--example", "tabular_csv", "-o", "training_config.epochs=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    mapping = json.loads((only_run_dir(tmp_path) / "label_mapping.json").read_text())
    assert mapping["classes"] == sorted(mapping["classes"]) and len(mapping["classes"]) >= 2


def test_check_runs_one_batch_and_writes_nothing(tmp_path):
    write_yaml(tmp_path / "exp.yaml", SEED_CONFIG)
    result = run_cli("check", "exp.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Config OK" in result.stdout
    assert "parameters" in result.stdout and "gradients finite" in result.stdout
    assert not (tmp_path / "results").exists()


def test_python_m_aiforge_main_alias(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "aiforge.main", "check", "--example", "seed_simple_nn"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Config OK" in result.stdout


def test_plugins_lists_builtins_and_folder_plugins(tmp_path):
    from plugin_builders import make_folder_plugin

    make_folder_plugin(tmp_path / "plugins", "folderplug")
    result = run_cli(
        "plugins", "--json", cwd=tmp_path, env={"AIFORGE_PLUGINS_DIR": str(tmp_path / "plugins")}
    )
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["simple_nn"]["source"] == "built-in"
    assert "hidden_dim" in rows["simple_nn"]["config_fields"]
    assert {"digits", "iris", "wine", "breast_cancer", "diabetes", "tabular"} <= set(rows)
    assert rows["folderplug"]["source"].startswith("folder")
    table = run_cli("plugins", cwd=tmp_path)
    assert table.returncode == 0 and "simple_nn" in table.stdout


def test_external_plugins_run_through_entry_point_and_folder(tmp_path):
    from plugin_builders import make_entry_point_plugin, make_folder_plugin

    site = tmp_path / "site"
    site.mkdir()
    entry_name = make_entry_point_plugin(site)
    make_folder_plugin(tmp_path / "plugins", "folderplug")
    env = {"PYTHONPATH": str(site), "AIFORGE_PLUGINS_DIR": str(tmp_path / "plugins")}
    for plugin in (entry_name, "folderplug"):
        config = {
            **SEED_CONFIG,
            "experiment_name": f"ext_{plugin}",
            "model_plugin": plugin,
            "dataset_plugin": plugin,
            "model_config": {},
            "dataset_args": {},
        }
        write_yaml(tmp_path / f"{plugin}.yaml", config)
        result = run_cli("run", f"{plugin}.yaml", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert list(tmp_path.glob(f"results/ext_{plugin}/*/final_results.json"))


def test_config_schema_and_examples(tmp_path):
    schema = run_cli("config", "schema", cwd=tmp_path)
    assert schema.returncode == 0
    properties = json.loads(schema.stdout)["properties"]
    assert {"experiment_name", "model_plugin", "model_config", "training_config", "seed"} <= set(properties)
    listing = run_cli("examples", cwd=tmp_path)
    assert listing.returncode == 0 and "default" in listing.stdout and "tabular_csv" in listing.stdout


BAD_INPUTS = {
    "malformed_yaml": ("model_plugin: simple_nn\n  oops: [\n", "invalid YAML (line"),
    "unknown_key": (
        "model_plugin: simple_nn\ndataset_plugin: iris\ntraning_config: {}\n",
        "did you mean 'training_config'",
    ),
    "wrong_type": (
        "model_plugin: simple_nn\ndataset_plugin: iris\ntraining_config: {epochs: many}\n",
        "training_config.epochs",
    ),
    "unknown_plugin": ("model_plugin: simple_nnn\ndataset_plugin: iris\n", "unknown plugin 'simple_nnn'"),
    "escaping_name": (
        "experiment_name: ../../escape\nmodel_plugin: simple_nn\ndataset_plugin: iris\n",
        "experiment_name",
    ),
    "missing_data": (
        "model_plugin: simple_nn\ndataset_plugin: tabular\ndata_path: nowhere.csv\n",
        "nowhere.csv",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_clear_message(tmp_path, case):
    text, expected = BAD_INPUTS[case]
    (tmp_path / "bad.yaml").write_text(text)
    result = run_cli("run", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("results/*/*/checkpoints/*.pt"))


def test_wrong_base_class_plugin_exits_2(tmp_path):
    plugin = tmp_path / "plugins" / "badbase"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    (plugin / "model.py").write_text("class Model:\n    pass\n")
    (tmp_path / "bad.yaml").write_text("model_plugin: badbase\ndataset_plugin: iris\n")
    result = run_cli("check", "bad.yaml", "--plugins-dir", str(tmp_path / "plugins"), cwd=tmp_path)
    assert result.returncode == 2
    assert "must be a subclass of aiforge.core.base_model.BaseModel" in result.stderr


def test_debug_flag_shows_the_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text("model_plugin: simple_nnn\ndataset_plugin: iris\n")
    result = run_cli("run", "bad.yaml", "--debug", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_bad_usage_and_missing_file_exit_2(tmp_path):
    assert run_cli("run", "missing.yaml", cwd=tmp_path).returncode == 2
    assert run_cli("run", "-o", "no_equals_sign", cwd=tmp_path).returncode == 2
    assert run_cli("frobnicate", cwd=tmp_path).returncode == 2
    assert run_cli("run", "--example", "nope", cwd=tmp_path).returncode == 2


def test_failure_inside_a_plugin_exits_1(tmp_path):
    plugin = tmp_path / "plugins" / "crashy"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    (plugin / "model.py").write_text(
        "from aiforge.plugins.simple_nn.model import Model as _Base\n\n"
        "class Model(_Base):\n"
        "    def forward(self, x):\n"
        "        raise RuntimeError('kaboom in forward')\n"
    )
    (tmp_path / "exp.yaml").write_text("model_plugin: crashy\ndataset_plugin: iris\n")
    result = run_cli("run", "exp.yaml", cwd=tmp_path, env={"AIFORGE_PLUGINS_DIR": str(tmp_path / "plugins")})
    assert result.returncode == 1
    assert "kaboom in forward" in result.stderr
    assert "--debug" in result.stderr


def test_options_before_the_command_are_kept():
    from aiforge.cli import build_parser, main  # noqa: F401  (main normalises the defaults)

    args = build_parser().parse_args(["--debug", "--plugins-dir", "x", "run"])
    assert args.debug is True and str(args.plugins_dir) == "x"
    args = build_parser().parse_args(["run", "--log-level", "WARNING"])
    assert args.log_level == "WARNING"


def test_plugins_dir_before_the_command_finds_folder_plugins(tmp_path):
    from plugin_builders import make_folder_plugin

    make_folder_plugin(tmp_path / "plugins", "earlyopt")
    result = run_cli("--plugins-dir", str(tmp_path / "plugins"), "plugins", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "earlyopt" in {row["name"] for row in json.loads(result.stdout)}


def test_check_catches_bad_scheduler_arguments(tmp_path):
    config = {**SEED_CONFIG, "training_config": {"scheduler": {"name": "StepLR", "args": {"step_sise": 2}}}}
    write_yaml(tmp_path / "exp.yaml", config)
    result = run_cli("check", "exp.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "StepLR(step_sise=2) failed" in result.stderr


def test_user_error_before_training_leaves_no_run_folder(tmp_path):
    (tmp_path / "exp.yaml").write_text(
        "experiment_name: nofolder\nmodel_plugin: simple_nn\ndataset_plugin: tabular\ndata_path: gone.csv\n"
    )
    result = run_cli("run", "exp.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "data_path 'gone.csv' was looked for in the working directory" in result.stderr
    assert "for a config read from a file, that file's folder" in result.stderr
    assert not (tmp_path / "results" / "nofolder").exists()


def test_bad_optimizer_argument_names_the_config_key(tmp_path):
    write_yaml(tmp_path / "exp.yaml", SEED_CONFIG)
    result = run_cli(
        "check", "exp.yaml", "-o", "training_config.optimizer_args.weight_decayy=0.1", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "check training_config.optimizer_args in the config" in result.stderr


def test_check_with_a_misspelled_dataset_argument_exits_2(tmp_path):
    # Regression: the tabular plugin ignored unknown arguments, so check passed and used the last column.
    result = run_cli(
        "check", "--example", "tabular_csv", "-o", "dataset_args.target_colum=segment", cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert "did you mean 'target_column'" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_rebuilds_report_html_of_a_run(tmp_path):
    write_yaml(tmp_path / "exp.yaml", SEED_CONFIG)
    assert run_cli("run", "exp.yaml", cwd=tmp_path).returncode == 0
    run_dir = only_run_dir(tmp_path)
    for name in ("report.html", "loss_curves.png", "confusion_matrix.png"):
        assert (run_dir / name).is_file(), name
    (run_dir / "report.html").unlink()
    result = run_cli("report", str(run_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(run_dir / "report.html") in result.stdout
    assert "data:image/png;base64," in (run_dir / "report.html").read_text()
    not_a_run = run_cli("report", str(tmp_path), cwd=tmp_path)
    assert not_a_run.returncode == 2 and "Traceback" not in not_a_run.stderr


def test_evaluate_predict_runs_and_export_through_the_cli(tmp_path):
    result = run_cli("run", "--example", "tabular_csv", "-o", "training_config.epochs=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path)
    evaluated = run_cli("evaluate", str(run_dir), "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    final = json.loads((run_dir / "final_results.json").read_text())
    assert json.dumps(final["final_val_metrics"]["accuracy"]) in evaluated.stdout
    from aiforge.config.loading import example_path

    csv_in = example_path("tabular_csv").parent / "example_classification.csv"
    predicted = run_cli("predict", str(run_dir), "--input", str(csv_in), "--output", "out.csv", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    header = (tmp_path / "out.csv").read_text().splitlines()[0]
    assert "prediction" in header and "prob_" in header
    assert run_cli("runs", "--json", cwd=tmp_path).returncode == 0
    exported = run_cli("export", str(run_dir), "--format", "torchscript", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert run_cli("evaluate", str(tmp_path / "nope"), cwd=tmp_path).returncode == 2
