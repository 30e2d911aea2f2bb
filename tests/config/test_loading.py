"""Reading config files, dotted overrides, and one clear error message for every problem."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiforge.config.loading import (
    apply_overrides,
    build_experiment_config,
    example_path,
    examples_dir,
    list_examples,
    load_experiment_config,
    read_config_file,
)
from aiforge.config.model_configs import ExperimentConfig, SimpleNNConfig
from aiforge.errors import ConfigError

YAML_TEXT = """\
experiment_name: formats
model_plugin: simple_nn
dataset_plugin: simple_nn
dataset_args: {num_samples: 100}
model_config:
  hidden_dim: 32
  dropout_rate: 0.1
training_config:
  epochs: 3
  learning_rate: 0.01
  optimizer_name: SGD
  scheduler: {name: StepLR, args: {step_size: 2}}
metrics: [accuracy, f1]
"""

TOML_TEXT = """\
experiment_name = "formats"
model_plugin = "simple_nn"
dataset_plugin = "simple_nn"
metrics = ["accuracy", "f1"]

[dataset_args]
num_samples = 100

[model_config]
hidden_dim = 32
dropout_rate = 0.1

[training_config]
epochs = 3
learning_rate = 0.01
optimizer_name = "SGD"

[training_config.scheduler]
name = "StepLR"
args = { step_size = 2 }
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def base(**changes: Any) -> dict[str, Any]:
    return {"model_plugin": "simple_nn", "dataset_plugin": "simple_nn", **changes}


def config_error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        build_experiment_config(data, source="my.yaml")
    return str(info.value)


# --- formats ------------------------------------------------------------------------------


def test_yaml_json_and_toml_give_equal_configs(tmp_path: Path) -> None:
    as_dict = yaml.safe_load(YAML_TEXT)
    configs = [
        load_experiment_config(write(tmp_path, "c.yaml", YAML_TEXT)),
        load_experiment_config(write(tmp_path, "c.yml", YAML_TEXT)),
        load_experiment_config(write(tmp_path, "c.json", json.dumps(as_dict, indent=2))),
        load_experiment_config(write(tmp_path, "c.toml", TOML_TEXT)),
    ]
    assert configs[0].training_config.scheduler is not None
    assert configs[0].training_config.scheduler.args == {"step_size": 2}
    assert configs[0].model_specific_config == SimpleNNConfig(hidden_dim=32, dropout_rate=0.1)
    assert configs[0].dataset_args == {"num_samples": 100}
    for other in configs[1:]:
        assert other == configs[0]


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    config = load_experiment_config(write(tmp_path, "C.YAML", YAML_TEXT))
    assert config.experiment_name == "formats"


# --- read errors: each is a ConfigError naming the file -----------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: config file not found$"):
        load_experiment_config(path)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "c.txt", YAML_TEXT)
    with pytest.raises(
        ConfigError, match=rf"{re.escape(str(path))}: unsupported config format '.txt'; use .yaml"
    ):
        read_config_file(path)


def test_a_directory_is_not_readable(tmp_path: Path) -> None:
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match=rf"{re.escape(str(folder))}: cannot read the config file"):
        read_config_file(folder)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("e.yaml", ""),
        ("c.yaml", "# only a comment\n"),
        ("e.json", ""),
        ("e.toml", "\n  \n"),
        ("n.json", "null"),
    ],
)
def test_empty_file(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: the config file is empty$"):
        read_config_file(path)


@pytest.mark.parametrize(("name", "text"), [("l.yaml", "- a\n- b\n"), ("l.json", "[1, 2]"), ("s.yaml", "hi")])
def test_top_level_must_be_a_mapping(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: the top level must be a mapping"):
        read_config_file(path)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "model_plugin: simple_nn\ntraining_config:\n  epochs: [1, 2\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: invalid YAML \(line 4, column 1\): "):
        read_config_file(path)
    path = write(tmp_path, "tab.yaml", "a: 1\n\tb: 2\n")
    with pytest.raises(ConfigError, match=r"tab\.yaml: invalid YAML \(line 2, column 1\)"):
        read_config_file(path)


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '{\n  "model_plugin": "simple_nn",\n}\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: invalid JSON \(line 3, column 1\): "):
        read_config_file(path)


def test_malformed_toml_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", 'model_plugin = "simple_nn"\nepochs = \n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: invalid TOML: .*line 2"):
        read_config_file(path)


def test_not_utf8_is_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("experiment_name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml: cannot read the config file"):
        read_config_file(path)


# --- dotted overrides ---------------------------------------------------------------------------


def test_overrides_set_nested_keys_and_parse_values_as_yaml() -> None:
    data = {"training_config": {"epochs": 5}, "model_config": {"hidden_dim": 64}, "preprocess_args": {}}
    result = apply_overrides(
        data,
        [
            "training_config.epochs=30",
            "model_config.hidden_dim=256",
            "dataset_args.num_samples=50",  # dataset_args did not exist
            "training_config.learning_rate=1e-3",
            "training_config.use_distributed=true",
            "metrics=[accuracy, f1]",
            "data_path=null",
            "experiment_name=run 2",
            "preprocess_args.scaler_type=",
        ],
    )
    assert result["training_config"] == {"epochs": 30, "learning_rate": 0.001, "use_distributed": True}
    assert result["model_config"] == {"hidden_dim": 256}
    assert result["dataset_args"] == {"num_samples": 50}
    assert result["metrics"] == ["accuracy", "f1"]
    assert result["data_path"] is None
    assert result["experiment_name"] == "run 2"
    assert result["preprocess_args"] == {"scaler_type": ""}
    assert isinstance(result["training_config"]["epochs"], int)
    assert data["training_config"]["epochs"] == 5  # the input is not modified


def test_scientific_notation_is_a_number_in_files_and_overrides(tmp_path: Path) -> None:
    # Regression: PyYAML (YAML 1.1) reads 1e-4 as the string '1e-4'; optimizer_args are
    # passed to torch unvalidated, so the run failed far from the config.
    path = write(
        tmp_path,
        "sci.yaml",
        "model_plugin: simple_nn\ndataset_plugin: simple_nn\n"
        "training_config:\n  optimizer_name: AdamW\n  optimizer_args: {weight_decay: 1e-4, eps: 1.0e-8}\n",
    )
    config = load_experiment_config(path, ["training_config.optimizer_args.betas=[0.9, 9.99E-1]"])
    assert config.training_config.optimizer_args == {"weight_decay": 1e-4, "eps": 1e-8, "betas": [0.9, 0.999]}
    result = apply_overrides({}, ["a=1e-3", "b=-2E+2", "c=1e", "d=1_000", "e=.5"])
    assert result == {"a": 0.001, "b": -200.0, "c": "1e", "d": 1000, "e": 0.5}
    assert isinstance(result["a"], float)


def test_override_value_may_contain_equals_and_spaces_around_key() -> None:
    result = apply_overrides({}, [" experiment_name =a=b", "training_config.scheduler.args={T_max: 4}"])
    assert result["experiment_name"] == "a=b"
    assert result["training_config"] == {"scheduler": {"args": {"T_max": 4}}}


def test_override_replaces_a_null_section() -> None:
    result = apply_overrides(
        {"training_config": {"scheduler": None}}, ["training_config.scheduler.name=StepLR"]
    )
    assert result["training_config"]["scheduler"] == {"name": "StepLR"}


def test_unparseable_override_value_is_kept_as_text() -> None:
    assert apply_overrides({}, ["experiment_name=[oops"])["experiment_name"] == "[oops"


@pytest.mark.parametrize(
    "override", ["training_config.epochs", "=5", "training_config..epochs=3", ".a=1", "a.=1"]
)
def test_malformed_overrides(override: str) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"^override '{re.escape(override)}': "
        r"expected key\.path=value, e\.g\. training_config\.epochs=30$",
    ):
        apply_overrides({}, [override])


def test_override_under_a_non_mapping() -> None:
    data = {"training_config": {"epochs": 5}, "metrics": ["accuracy"]}
    with pytest.raises(
        ConfigError,
        match=r"^override 'training_config\.epochs\.x=1': 'training_config\.epochs' is 5, not a mapping$",
    ):
        apply_overrides(data, ["training_config.epochs.x=1"])
    with pytest.raises(ConfigError, match=r"'metrics' is a list, and an override cannot set one item"):
        apply_overrides(data, ["metrics.0=f1"])


def test_overrides_apply_in_load_and_are_validated(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", YAML_TEXT)
    config = load_experiment_config(
        path, ["training_config.epochs=30", "model_config.hidden_dim=256", "dataset_args.num_samples=50"]
    )
    assert config.training_config.epochs == 30
    assert config.model_specific_config.hidden_dim == 256
    assert config.dataset_args == {"num_samples": 50}
    with pytest.raises(
        ConfigError, match=r"training_config\.epochs: Input should be greater than 0 \(got 0\)"
    ):
        load_experiment_config(path, ["training_config.epochs=0"])


# --- validation: all problems at once, with key paths ---------------------------------------------


def test_all_errors_are_collected_in_one_message() -> None:
    message = config_error(
        base(
            training_config={"epochs": 0},
            batch_size=3,
            model_config={"hidden_dim": -1},
        )
    )
    lines = message.splitlines()
    assert lines[0] == "invalid experiment config in my.yaml:"
    assert "  training_config.epochs: Input should be greater than 0 (got 0)" in lines
    assert "  batch_size: unknown key" in lines
    assert "  model_config.hidden_dim: Input should be greater than 0 (got -1)" in lines
    assert len(lines) == 4


def test_did_you_mean_at_every_level() -> None:
    message = config_error(
        base(
            experiment_nam="x",
            training_config={"learning_rat": 0.1, "scheduler": {"name": "StepLR", "arg": {}}},
            model_config={"hiden_dim": 3},
        )
    )
    assert "  experiment_nam: unknown key (did you mean 'experiment_name'?)" in message
    assert "  training_config.learning_rat: unknown key (did you mean 'learning_rate'?)" in message
    assert "  training_config.scheduler.arg: unknown key (did you mean 'args'?)" in message
    assert "  model_config.hiden_dim: unknown key (did you mean 'hidden_dim'?)" in message


def test_python_field_name_is_not_a_file_key() -> None:
    message = config_error(base(model_specific_config={"hidden_dim": 3}))
    assert "  model_specific_config: unknown key (did you mean 'model_config'?)" in message


def test_unknown_plugins_are_reported_per_key() -> None:
    message = config_error({"model_plugin": "simpel_nn", "dataset_plugin": "digitz"})
    assert re.search(
        r"^  model_plugin: unknown plugin 'simpel_nn' \(did you mean 'simple_nn'\?\)\. Available: ",
        message,
        re.M,
    )
    assert re.search(
        r"^  dataset_plugin: unknown plugin 'digitz' \(did you mean 'digits'\?\)\. Available: ", message, re.M
    )
    assert "simple_nn, tabular" in message


def test_dataset_only_plugin_as_model_plugin() -> None:
    message = config_error(base(model_plugin="digits"))
    assert "  model_plugin: plugin 'digits' (built-in) has no Model class" in message


def test_missing_plugins_and_bad_types() -> None:
    message = config_error({"training_config": {"optimizer_name": "Adamm"}, "model_config": 5})
    assert "  model_plugin: required key is missing" in message
    assert "  dataset_plugin: required key is missing" in message
    assert "  training_config.optimizer_name: unknown optimizer 'Adamm' (did you mean 'Adam'?)" in message
    message = config_error(base(model_config=[1, 2]))
    assert "  model_config: expected a mapping of SimpleNNConfig fields, got [1, 2]" in message


def test_error_names_the_config_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, "exp.yaml", "model_plugin: simple_nn\ndataset_plugin: simple_nn\nval_fraction: 1\n"
    )
    with pytest.raises(
        ConfigError, match=rf"^invalid experiment config in {re.escape(str(path))}:\n  val_fraction: "
    ):
        load_experiment_config(path)


def test_build_experiment_config_keeps_the_model_config_class() -> None:
    config = build_experiment_config(base(model_config={"hidden_dim": 8}))
    assert isinstance(config, ExperimentConfig)
    assert type(config.model_specific_config) is SimpleNNConfig
    assert build_experiment_config(base(model_config=None)).model_specific_config == SimpleNNConfig()


# --- data_path relative to the config file ----------------------------------------------------------


def test_relative_data_path_next_to_config_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "table.csv").write_text("a,b\n1,2\n")
    path = write(
        project, "exp.yaml", "model_plugin: simple_nn\ndataset_plugin: simple_nn\ndata_path: data/table.csv\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert path.is_file()
    config = load_experiment_config(Path("..") / "project" / "exp.yaml")  # relative to the cwd too
    assert config.data_path == str((project / "data" / "table.csv").resolve())
    assert Path(config.data_path).is_absolute()


def test_data_path_in_working_directory_or_absent_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.csv").write_text("a\n1\n")
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "here.csv").write_text("a\n1\n")
    text = "model_plugin: simple_nn\ndataset_plugin: simple_nn\ndata_path: {}\n"
    assert load_experiment_config(write(configs, "a.yaml", text.format("here.csv"))).data_path == "here.csv"
    assert (
        load_experiment_config(write(configs, "b.yaml", text.format("missing.csv"))).data_path
        == "missing.csv"
    )


# --- bundled examples --------------------------------------------------------------------------------


def test_list_examples_includes_default() -> None:
    examples = list_examples()
    assert "default" in examples
    assert examples["default"] == example_path() == example_path("default")
    assert all(path.parent == examples_dir() and path.is_file() for path in examples.values())


@pytest.mark.parametrize("name", sorted(list_examples()))
def test_every_bundled_example_validates(name: str) -> None:
    config = load_experiment_config(example_path(name))
    assert config.model_plugin and config.dataset_plugin
    assert config.experiment_name != "default_experiment"  # each example names itself


def test_unknown_example() -> None:
    with pytest.raises(
        ConfigError, match=r"^unknown example 'defualt' \(did you mean 'default'\?\); available: .*default"
    ):
        example_path("defualt")
    with pytest.raises(ConfigError, match=r"^unknown example 'nope'; available: "):
        example_path("nope")


# --- regressions from the review fixes --------------------------------------------------------


def test_monitor_that_the_metrics_do_not_log_is_refused_on_load(tmp_path: Path) -> None:
    # Regression: the file loaded, and the run failed later without naming the file.
    path = write(
        tmp_path,
        "monitor.yaml",
        "model_plugin: simple_nn\ndataset_plugin: simple_nn\nmetrics: [accuracy]\n"
        "training_config: {early_stopping_monitor: val_auroc}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_experiment_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "training_config.early_stopping_monitor: 'val_auroc' is not logged by this run" in message


def test_metric_of_the_wrong_task_is_refused_on_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mse.yaml",
        "model_plugin: simple_nn\ndataset_plugin: simple_nn\nmetrics: [mse]\n"
        "training_config: {loss_fn_name: CrossEntropyLoss}\n",
    )
    with pytest.raises(
        ConfigError, match=r"mse\.yaml(.|\n)*metrics: \['mse'\] do not apply to a classification"
    ):
        load_experiment_config(path)


def test_model_config_for_a_model_without_config_class_says_why(tmp_path: Path) -> None:
    # Regression: the error was only "unknown key", with no hint that the plugin takes no settings.
    plugin = tmp_path / "plugins" / "no_config_class_model"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    (plugin / "model.py").write_text(
        "from torch import nn\n\nfrom aiforge.core.base_model import BaseModel\n\n\n"
        "class Model(BaseModel):\n"
        "    def __init__(self, model_config=None):\n"
        "        super().__init__(model_config)\n"
        "        self.net = nn.LazyLinear(3)\n\n"
        "    def forward(self, x):\n"
        "        return self.net(x)\n"
    )
    path = write(
        tmp_path,
        "exp.yaml",
        "model_plugin: no_config_class_model\ndataset_plugin: iris\nmodel_config: {hidden_dim: 8}\n",
    )
    with pytest.raises(
        ConfigError,
        match=r"model_config\.hidden_dim: unknown key \(the model plugin's Model does not set config_class",
    ):
        load_experiment_config(path, plugins_dir=tmp_path / "plugins")
