"""Hostile and careless inputs to the ``aiforge`` command: each gets its exit code and a message
that says what to fix, and nothing is lost or left behind.

Exit codes: 0 ok, 2 bad usage/config/input (AIForgeError), 1 a failure during the run, 130
interrupted. Every row runs the CLI in-process (``aiforge.cli.main``) in an empty working
directory that already holds one finished run folder; a few rows also run as a real
subprocess (marked slow) to prove the real exit code and stderr.

What the table documents beyond "it fails":

- A dataset with fewer rows than ``batch_size`` trains (one short batch per epoch): exit 0.
- A dataset so small that the validation split is empty is an exit-2 error naming the row counts.
- An error before training leaves the results folder exactly as it was (``aiforge run`` discards
  the run folder it made; ``aiforge check`` writes nothing).
- A bug in plugin code (exit 1) or an interrupt (130) may keep the new run folder, whose debug
  log holds the traceback; the earlier run is untouched either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from aiforge.cli import main
from plugin_builders import make_entry_point_plugin, make_folder_plugin, tiny_experiment

OK, USAGE, FAILURE, INTERRUPTED = 0, 2, 1, 130
EXPERIMENT = "bad_inputs"
OLD_RUN = Path("results") / EXPERIMENT / "20200101-000000-abcdef"

SIMPLE = tiny_experiment(EXPERIMENT)
TABULAR = {
    "experiment_name": EXPERIMENT,
    "model_plugin": "simple_nn",
    "dataset_plugin": "tabular",
    "data_path": "data.csv",
    "model_config": {"hidden_dim": 8},
    "training_config": {"epochs": 1, "batch_size": 8},
}
HEADER = "x1,x2,label\n"
ROWS = "".join(f"{i % 7},{(i * 3) % 5},{'ab'[i % 2]}\n" for i in range(30))
CSV = HEADER + ROWS


def yaml_text(base: dict, **changes: object) -> str:
    """``base`` with top-level keys replaced (a value of ``...`` removes the key)."""
    data = {**base, **changes}
    return yaml.safe_dump({k: v for k, v in data.items() if v is not ...}, sort_keys=False)


def with_training(base: dict, **training: object) -> str:
    return yaml_text(base, training_config={**base["training_config"], **training})


def with_model(base: dict, **model: object) -> str:
    return yaml_text(base, model_config={**base["model_config"], **model})


def tabular(csv: str | bytes | None = CSV, **changes: object) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {"exp.yaml": yaml_text(TABULAR, **changes)}
    if csv is not None:
        files["data.csv"] = csv
    return files


# --- plugins built in the test's folder ---------------------------------------------------------

Setup = Callable[[Path, pytest.MonkeyPatch], None]


def folder_plugin(name: str, **replace: str) -> Setup:
    """``plugins/<name>/`` from plugin_builders, with some of its files replaced."""

    def setup(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        make_folder_plugin(root / "plugins", name)
        for file_name, text in replace.items():
            (root / "plugins" / name / file_name).write_text(text, encoding="utf-8")

    return setup


def entry_point_wrong_base(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution (``site/`` on sys.path) whose Model is a plain nn.Module."""
    site = root / "site"
    package = f"bad_ep_{uuid.uuid4().hex[:8]}"
    make_entry_point_plugin(site, name="badep", package=package, dist=package.replace("_", "-"))
    (site / package / "model.py").write_text(
        "from torch import nn\n\n\nclass Model(nn.Module):\n    pass\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))


WRONG_BASE_MODEL = "from torch import nn\n\n\nclass Model(nn.Module):\n    pass\n"
WRONG_BASE_DATASET = "class Dataset:\n    def load_data(self, data_path=None):\n        pass\n"
RAISING_DATASET = """
from aiforge.core.data_pipeline import InMemoryDataset


class Dataset(InMemoryDataset):
    def load_data(self, data_path=None, **_):
        raise {error}
"""


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]  # relative to the working directory
    argv: tuple[str, ...]  # "run" rows get --results-dir and -o training_config.epochs=1 added
    code: int
    messages: tuple[str, ...]  # substrings of stderr (or stdout for exit 0)
    setup: Setup | None = None
    clean: bool = True  # the results folder is left exactly as it was (for exit != 0)
    outside: tuple[str, ...] = field(default=())  # paths (relative to cwd) that must not appear


def check(config: str = "exp.yaml", *extra: str) -> tuple[str, ...]:
    return ("check", config, *extra)


def run(config: str = "exp.yaml", *extra: str) -> tuple[str, ...]:
    return ("run", config, *extra)


def override(*pairs: str) -> tuple[str, ...]:
    return tuple(arg for pair in pairs for arg in ("-o", pair))


NAME_RULE = "experiment_name: must be 1-100 characters of letters, digits"
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
)
PLUGINS = ("--plugins-dir", "plugins")

CASES = [
    # config files that cannot be read
    Case(
        "yaml-malformed",
        {"exp.yaml": "model_plugin: simple_nn\ntraining_config: {epochs: 1\nseed: 3\n"},
        check(),
        USAGE,
        ("exp.yaml: invalid YAML (line 3, column 5)",),
    ),
    Case(
        "yaml-tab-indent",
        {"exp.yaml": "model_plugin: simple_nn\n\tdataset_plugin: iris\n"},
        check(),
        USAGE,
        ("exp.yaml: invalid YAML (line 2, column 1)", "'\\t'"),
    ),
    Case(
        "json-malformed",
        {"exp.json": '{"model_plugin": "simple_nn",\n "dataset_plugin": "iris",}'},
        check("exp.json"),
        USAGE,
        ("exp.json: invalid JSON (line 2, column 27)", "Expecting property name"),
    ),
    Case(
        "toml-malformed",
        {"exp.toml": "model_plugin = simple_nn\n"},
        check("exp.toml"),
        USAGE,
        ("exp.toml: invalid TOML", "line 1"),
    ),
    Case("config-missing", {}, check("nope.yaml"), USAGE, ("nope.yaml: config file not found",)),
    Case("config-empty-yaml", {"exp.yaml": ""}, check(), USAGE, ("exp.yaml: the config file is empty",)),
    Case(
        "config-empty-json",
        {"exp.json": "  \n"},
        check("exp.json"),
        USAGE,
        ("exp.json: the config file is empty",),
    ),
    Case(
        "config-top-level-list",
        {"exp.yaml": "- model_plugin: simple_nn\n- dataset_plugin: iris\n"},
        check(),
        USAGE,
        ("exp.yaml: the top level must be a mapping of keys, not list",),
    ),
    Case(
        "config-unsupported-suffix",
        {"exp.txt": "model_plugin: simple_nn\n"},
        check("exp.txt"),
        USAGE,
        ("exp.txt: unsupported config format '.txt'", ".yaml"),
    ),
    Case(
        "config-not-utf8",
        {"exp.yaml": b"model_plugin: \xff\xfe\n"},
        check(),
        USAGE,
        ("exp.yaml: cannot read the config file", "utf-8"),
    ),
    Case(
        "config-is-a-folder", {"exp.yaml/x": ""}, check(), USAGE, ("exp.yaml: cannot read the config file",)
    ),
    Case(
        "yaml-python-tag",
        {"exp.yaml": "model_plugin: !!python/object/apply:os.system [echo hi]\n"},
        check(),
        USAGE,
        ("exp.yaml: invalid YAML (line 1, column 15)", "python/object/apply:os.system"),
    ),
    Case(
        "yaml-duplicate-key",
        {"exp.yaml": yaml_text(SIMPLE) + "model_plugin: iris\n"},
        check(),
        USAGE,
        ("exp.yaml: invalid YAML (line 12, column 1)", "key 'model_plugin' appears twice", "first on line 2"),
    ),
    Case(
        "json-duplicate-key",
        {"exp.json": '{"model_plugin": "simple_nn", "model_plugin": "iris"}'},
        check("exp.json"),
        USAGE,
        ("exp.json: invalid JSON: key 'model_plugin' appears twice",),
    ),
    Case(
        "yaml-recursive-alias",
        {"exp.yaml": yaml_text(SIMPLE) + "extra: &d {more: *d}\n"},
        check(),
        USAGE,
        ("exp.yaml contains itself (a recursive YAML alias)",),
    ),
    Case(
        "yaml-alias-bomb",
        {"exp.yaml": ALIAS_BOMB},
        check(),
        USAGE,
        ("exp.yaml holds more than 100,000 values",),
    ),
    Case(
        "json-nested-too-deep",
        {"exp.json": '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"},
        check("exp.json"),
        USAGE,
        ("exp.json: invalid JSON: nested too deeply",),
    ),
    # unknown and misspelled keys
    Case(
        "key-misspelled-top-level",
        {"exp.yaml": yaml_text(SIMPLE, training_confg={"epochs": 1})},
        check(),
        USAGE,
        (
            "invalid experiment config in exp.yaml",
            "training_confg: unknown key (did you mean 'training_config'?)",
        ),
    ),
    Case(
        "key-misspelled-nested",
        {"exp.yaml": with_training(SIMPLE, learning_rat=0.1)},
        check(),
        USAGE,
        ("training_config.learning_rat: unknown key (did you mean 'learning_rate'?)",),
    ),
    Case(
        "key-misspelled-model-config",
        {"exp.yaml": with_model(SIMPLE, dropout=0.5)},
        check(),
        USAGE,
        ("model_config.dropout: unknown key (did you mean 'dropout_rate'?)",),
    ),
    Case(
        "key-misspelled-scheduler",
        {"exp.yaml": with_training(SIMPLE, scheduler={"name": "StepLR", "arg": {"step_size": 1}})},
        check(),
        USAGE,
        ("training_config.scheduler.arg: unknown key (did you mean 'args'?)",),
    ),
    Case(
        "key-required-missing",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin=...)},
        check(),
        USAGE,
        ("model_plugin: required key is missing",),
    ),
    Case(
        "key-several-problems-at-once",
        {"exp.yaml": yaml_text(SIMPLE, trainig_config={}, seed=-1)},
        check(),
        USAGE,
        ("trainig_config: unknown key (did you mean 'training_config'?)", "seed: Input should be greater"),
    ),
    # wrong types
    Case(
        "type-epochs-text",
        {"exp.yaml": with_training(SIMPLE, epochs="ten")},
        check(),
        USAGE,
        ("training_config.epochs: Input should be a valid integer", "(got 'ten')"),
    ),
    Case(
        "type-batch-size-list",
        {"exp.yaml": with_training(SIMPLE, batch_size=[1])},
        check(),
        USAGE,
        ("training_config.batch_size: Input should be a valid integer (got [1])",),
    ),
    Case(
        "type-learning-rate-text",
        {"exp.yaml": with_training(SIMPLE, learning_rate="fast")},
        check(),
        USAGE,
        ("training_config.learning_rate: Input should be a valid number", "(got 'fast')"),
    ),
    Case(
        "type-epochs-yaml-yes",
        {"exp.yaml": yaml_text(SIMPLE, training_config=...) + "training_config: {epochs: yes}\n"},
        check(),
        USAGE,
        ("training_config.epochs: expected a number, not a boolean",),
    ),
    Case(
        "type-epochs-fraction",
        {"exp.yaml": with_training(SIMPLE, epochs=1.5)},
        check(),
        USAGE,
        ("training_config.epochs: Input should be a valid integer, got a number with a fractional part",),
    ),
    Case(
        "type-training-config-list",
        {"exp.yaml": yaml_text(SIMPLE, training_config=[1])},
        check(),
        USAGE,
        ("training_config: Input should be a valid dictionary",),
    ),
    Case(
        "type-model-config-text",
        {"exp.yaml": yaml_text(SIMPLE, model_config="big")},
        check(),
        USAGE,
        ("model_config: expected a mapping of SimpleNNConfig fields, got 'big'",),
    ),
    Case(
        "type-experiment-name-number",
        {"exp.yaml": yaml_text(SIMPLE, experiment_name=2024)},
        check(),
        USAGE,
        ("experiment_name: Input should be a valid string (got 2024)",),
    ),
    # out-of-range values
    *(
        Case(
            f"range-{key.replace('_', '-')}-{value}",
            {"exp.yaml": with_training(SIMPLE, **{key: value})},
            check(),
            USAGE,
            (f"training_config.{key}: Input should be greater than 0 (got {value})",),
        )
        for key, value in (
            ("epochs", 0),
            ("epochs", -3),
            ("batch_size", 0),
            ("batch_size", -1),
            ("learning_rate", 0),
            ("learning_rate", -0.01),
        )
    ),
    Case(
        "range-learning-rate-inf",
        {"exp.yaml": yaml_text(SIMPLE, training_config=...) + "training_config: {learning_rate: .inf}\n"},
        check(),
        USAGE,
        ("training_config.learning_rate: Input should be a finite number (got inf)",),
    ),
    Case(
        "range-learning-rate-nan",
        {"exp.yaml": yaml_text(SIMPLE, training_config=...) + "training_config: {learning_rate: .nan}\n"},
        check(),
        USAGE,
        ("training_config.learning_rate: Input should be a finite number (got nan)",),
    ),
    Case(
        "range-dropout-above-1",
        {"exp.yaml": with_model(SIMPLE, dropout_rate=1.5)},
        check(),
        USAGE,
        ("model_config.dropout_rate: Input should be less than or equal to 1 (got 1.5)",),
    ),
    Case(
        "range-dropout-negative",
        {"exp.yaml": with_model(SIMPLE, dropout_rate=-0.1)},
        check(),
        USAGE,
        ("model_config.dropout_rate: Input should be greater than or equal to 0 (got -0.1)",),
    ),
    Case(
        "range-val-fraction-1",
        {"exp.yaml": yaml_text(SIMPLE, val_fraction=1)},
        check(),
        USAGE,
        ("val_fraction: Input should be less than 1 (got 1)",),
    ),
    Case(
        "range-hidden-dim-huge",
        {"exp.yaml": with_model(SIMPLE, hidden_dim=10**25)},
        check(),
        USAGE,
        ("model_config.hidden_dim: Input should be less than or equal to 2147483647",),
    ),
    Case(
        "range-hidden-layers-huge",
        {"exp.yaml": with_model(SIMPLE, num_hidden_layers=10**9)},
        check(),
        USAGE,
        ("model_config.num_hidden_layers: Input should be less than or equal to 10000",),
    ),
    # the tabular dataset: these fail after `run` made its folder, which must then go away
    Case(
        "tabular-file-missing",
        tabular(csv=None),
        run(),
        USAGE,
        ("data file not found: data.csv", "data_path 'data.csv' was looked for in the working directory"),
    ),
    Case(
        "tabular-file-empty", tabular(csv=b""), run(), USAGE, ("data.csv is empty: expected a header line",)
    ),
    Case(
        "tabular-header-only",
        tabular(csv=HEADER),
        run(),
        USAGE,
        ("data.csv has no data rows (only a header)",),
    ),
    Case(  # an empty feature cell is a gap, filled in by the tabular preprocessor (issue 19)
        "tabular-missing-value-is-a-gap",
        tabular(csv=HEADER + "1,2,a\n3,4,b\n5,,a\n" + ROWS),
        run(),
        OK,
        ("Run finished",),
    ),
    Case(  # text in a column declared a number column (by default it would be a category)
        "tabular-text-in-numeric-column",
        tabular(
            csv=HEADER + "1,2,a\n3,4,b\n5,6,a\n7,8,b\nabc,1,a\n" + ROWS,
            dataset_args={"column_types": {"x1": "number"}},
        ),
        run(),
        USAGE,
        ("data.csv: column 'x1' row 5 (line 6 of the file): 'abc' is not a number",),
    ),
    Case(
        "tabular-ragged-long-row",
        tabular(csv=HEADER + "1,2,a\n3,4,b\n5,6,a\n7,8,b\n9,1,a,extra\n" + ROWS),
        run(),
        USAGE,
        ("data.csv could not be parsed", "Expected 3 fields in line 6, saw 4"),
    ),
    Case(
        "tabular-ragged-short-row",
        tabular(csv=HEADER + "1,2,a\n3,4,b\n5,6\n" + ROWS),
        run(),
        USAGE,
        ("missing value in column 'label' at row 3 (line 4 of the file)", "fewer fields than the header"),
    ),
    Case(
        "tabular-every-row-one-field-too-many",
        tabular(csv=HEADER + ROWS.replace("\n", ",9\n")),
        run(),
        USAGE,
        ("data.csv: the data rows have more fields than the header line",),
    ),
    Case(
        "tabular-duplicate-column-name",
        tabular(csv="x1,x1,label\n" + ROWS),
        run(),
        USAGE,
        ("data.csv: the header line names column(s) 'x1' more than once",),
    ),
    Case(
        "tabular-unnamed-column",
        tabular(csv="x1,,label\n" + ROWS),
        run(),
        USAGE,
        ("data.csv: column 2 of the header line has no name",),
    ),
    Case(
        "tabular-single-class",
        tabular(csv=HEADER + "".join(f"{i},{i},a\n" for i in range(20))),
        run(),
        USAGE,
        ("data.csv: target column 'label' has a single class 'a'; classification needs at least 2",),
    ),
    Case(
        "tabular-regression-target-is-text",
        tabular(dataset_args={"task": "regression"}),
        run(),
        USAGE,
        ("column 'label' row 1 (line 2 of the file): 'a' is not a number", "task: classification"),
    ),
    Case(
        "tabular-too-few-rows-for-validation",
        tabular(csv=HEADER + "1,2,a\n3,4,b\n"),
        run(),
        USAGE,
        ("the dataset has 2 rows: val_fraction=0.2 leaves 2 for training and 0 for validation",),
    ),
    Case(
        "tabular-val-fraction-too-small",
        tabular(val_fraction=0.01),
        run(),
        USAGE,
        ("the dataset has 30 rows: val_fraction=0.01", "0 for validation; both need at least 1"),
    ),
    Case(
        "tabular-input-dim-mismatch",
        tabular(model_config={"input_dim": 5}),
        run(),
        USAGE,
        ("model_config.input_dim=5, but the data has 2 (features)", "remove input_dim"),
    ),
    Case(
        "tabular-target-column-misspelled",
        tabular(dataset_args={"target_column": "lable"}),
        run(),
        USAGE,
        ("data.csv: target column 'lable' not found (did you mean 'label'?)",),
    ),
    Case(
        "tabular-dataset-arg-misspelled",
        tabular(dataset_args={"target_colum": "label"}),
        run(),
        USAGE,
        ("unexpected keyword argument 'target_colum' (did you mean 'target_column'?)", "dataset_args"),
    ),
    Case(
        "tabular-feature-columns-wrong-type",
        tabular(dataset_args={"feature_columns": {"x1": 1}}),
        run(),
        USAGE,
        ("tabular: feature_columns must be a list of column names",),
    ),
    Case(
        "tabular-data-path-is-a-folder",
        {**tabular(csv=None), "data.csv/inner.csv": CSV},
        run(),
        USAGE,
        ("data_path data.csv is a directory",),
    ),
    Case(
        "tabular-data-path-nul",
        tabular(data_path="data\x00.csv"),
        check(),
        USAGE,
        ("data_path: contains a NUL character",),
    ),
    Case(
        "tabular-data-path-too-long",
        tabular(data_path="d" * 300 + ".csv"),
        check(),
        USAGE,
        ("data_path: is too long for a file path",),
    ),
    # experiment_name becomes a folder: no way out of the results folder, no odd names
    *(
        Case(
            f"name-{label}",
            {"exp.yaml": yaml_text(SIMPLE, experiment_name=name)},
            run(),
            USAGE,
            (NAME_RULE, f"(got {name!r})"),
            outside=outside,
        )
        for label, name, outside in (
            ("traversal", "../../x", ("../x", "x")),
            ("traversal-inside", "a/../../b", ("b", "a")),
            ("absolute", "/tmp/aiforge-bad-inputs-x", ("/tmp/aiforge-bad-inputs-x",)),
            ("empty", "", ()),
            ("dot-dot", "..", ()),
            ("space", "my experiment", ()),
            ("newline", "exp\n", ()),
            ("leading-dash", "-rf", ()),
            ("backslash", "a\\b", ()),
            ("too-long", "a" * 101, ()),
        )
    ),
    # plugins
    Case(
        "plugin-model-misspelled",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin="simple_mn")},
        check(),
        USAGE,
        ("model_plugin: unknown plugin 'simple_mn' (did you mean 'simple_nn'?)", "Available: "),
    ),
    Case(
        "plugin-dataset-misspelled",
        {"exp.yaml": yaml_text(TABULAR, dataset_plugin="tabluar")},
        check(),
        USAGE,
        ("dataset_plugin: unknown plugin 'tabluar' (did you mean 'tabular'?)",),
    ),
    Case(
        "plugin-name-empty",
        {"exp.yaml": yaml_text(SIMPLE, dataset_plugin="")},
        check(),
        USAGE,
        ("dataset_plugin: must name a plugin",),
    ),
    Case(
        "plugin-folder-misspelled",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin="folderplgu", model_config={})},
        check("exp.yaml", *PLUGINS),
        USAGE,
        ("unknown plugin 'folderplgu' (did you mean 'folderplug'?)",),
        setup=folder_plugin("folderplug"),
    ),
    Case(
        "plugin-raises-at-import",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin="boomplug", model_config={})},
        check("exp.yaml", *PLUGINS),
        USAGE,
        ("model_plugin: plugin 'boomplug' failed to import", "RuntimeError: boom at import"),
        setup=folder_plugin("boomplug", **{"model.py": "raise RuntimeError('boom at import')\n"}),
    ),
    Case(
        "plugin-syntax-error",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin="syntaxplug", model_config={})},
        check("exp.yaml", *PLUGINS),
        USAGE,
        ("plugin 'syntaxplug' failed to import", "SyntaxError", "model.py, line 1"),
        setup=folder_plugin("syntaxplug", **{"model.py": "def broken(:\n    pass\n"}),
    ),
    Case(
        "plugin-package-init-raises",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin="initplug", model_config={})},
        check("exp.yaml", *PLUGINS),
        USAGE,
        ("plugin 'initplug'", "failed to import: ImportError: needs a GPU library"),
        setup=folder_plugin("initplug", **{"__init__.py": "raise ImportError('needs a GPU library')\n"}),
    ),
    Case(
        "plugin-missing-dependency",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin="depplug", model_config={})},
        check("exp.yaml", *PLUGINS),
        USAGE,
        ("plugin 'depplug' failed to import", "No module named 'not_installed_xyz'"),
        setup=folder_plugin("depplug", **{"model.py": "import not_installed_xyz\n"}),
    ),
    Case(
        "plugin-exits-at-import",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin="exitplug", model_config={})},
        check("exp.yaml", *PLUGINS),
        USAGE,
        ("plugin 'exitplug' failed to import", "SystemExit: 3"),
        setup=folder_plugin("exitplug", **{"model.py": "import sys\n\nsys.exit(3)\n"}),
    ),
    Case(
        "plugin-model-wrong-base-class",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin="basemodel", model_config={})},
        check("exp.yaml", *PLUGINS),
        USAGE,
        ("plugin 'basemodel': Model", "must be a subclass of aiforge.core.base_model.BaseModel"),
        setup=folder_plugin("basemodel", **{"model.py": WRONG_BASE_MODEL}),
    ),
    Case(
        "plugin-dataset-wrong-base-class",
        {"exp.yaml": yaml_text(SIMPLE, dataset_plugin="basedata", dataset_args={})},
        run("exp.yaml", *PLUGINS),
        USAGE,
        ("plugin 'basedata': Dataset", "must be a subclass of aiforge.core.data_pipeline.BaseDataset"),
        setup=folder_plugin("basedata", **{"dataset.py": WRONG_BASE_DATASET}),
    ),
    Case(
        "plugin-entry-point-wrong-base-class",
        {"exp.yaml": yaml_text(SIMPLE, model_plugin="badep", model_config={})},
        check(),
        USAGE,
        ("plugin 'badep': Model", "must be a subclass of aiforge.core.base_model.BaseModel"),
        setup=entry_point_wrong_base,
    ),
    Case(
        "plugin-bug-during-run",
        {"exp.yaml": yaml_text(SIMPLE, dataset_plugin="bugplug", dataset_args={})},
        run("exp.yaml", *PLUGINS),
        FAILURE,
        (
            "error: the run failed: TrainingError: plugin 'bugplug' failed in Dataset.load_data: "
            "KeyError: 'oops'",
            "run again with --debug for the traceback",
        ),
        setup=folder_plugin("bugplug", **{"dataset.py": RAISING_DATASET.format(error="KeyError('oops')")}),
        clean=False,
    ),
    Case(
        "plugin-interrupted",
        {"exp.yaml": yaml_text(SIMPLE, dataset_plugin="ctrlc", dataset_args={})},
        run("exp.yaml", *PLUGINS),
        INTERRUPTED,
        ("interrupted",),
        setup=folder_plugin("ctrlc", **{"dataset.py": RAISING_DATASET.format(error="KeyboardInterrupt")}),
        clean=False,
    ),
    # -o overrides
    Case(
        "override-without-equals",
        {"exp.yaml": yaml_text(SIMPLE)},
        check("exp.yaml", *override("training_config.epochs")),
        USAGE,
        ("override 'training_config.epochs': expected key.path=value",),
    ),
    Case(
        "override-empty-key",
        {"exp.yaml": yaml_text(SIMPLE)},
        check("exp.yaml", *override("=3")),
        USAGE,
        ("override '=3': expected key.path=value",),
    ),
    Case(
        "override-empty-path-part",
        {"exp.yaml": yaml_text(SIMPLE)},
        check("exp.yaml", *override("training_config..epochs=3")),
        USAGE,
        ("override 'training_config..epochs=3': expected key.path=value",),
    ),
    Case(
        "override-unknown-key",
        {"exp.yaml": yaml_text(SIMPLE)},
        check("exp.yaml", *override("training_config.epoch=3")),
        USAGE,
        ("training_config.epoch: unknown key (did you mean 'epochs'?)",),
    ),
    Case(
        "override-unknown-top-level-key",
        {"exp.yaml": yaml_text(SIMPLE)},
        check("exp.yaml", *override("trainig_config.epochs=3")),
        USAGE,
        ("trainig_config: unknown key (did you mean 'training_config'?)",),
    ),
    Case(
        "override-into-a-value",
        {"exp.yaml": yaml_text(SIMPLE)},
        check("exp.yaml", *override("experiment_name.x=1")),
        USAGE,
        (f"override 'experiment_name.x=1': 'experiment_name' is '{EXPERIMENT}', not a mapping",),
    ),
    Case(
        "override-wrong-type",
        {"exp.yaml": yaml_text(SIMPLE)},
        check("exp.yaml", *override("training_config.batch_size=[1, 2]")),
        USAGE,
        ("training_config.batch_size: Input should be a valid integer (got [1, 2])",),
    ),
    Case(
        "override-number-too-long",
        {"exp.yaml": yaml_text(SIMPLE)},
        check("exp.yaml", *override("training_config.epochs=" + "9" * 5000)),
        USAGE,
        ("override 'training_config.epochs=9999", "cannot read the value", "4300 digits"),
    ),
    # the command line itself
    Case(
        "example-misspelled",
        {},
        ("check", "--example", "tabular_cvs"),
        USAGE,
        ("unknown example 'tabular_cvs' (did you mean 'tabular_csv'?)",),
    ),
    Case(
        "config-and-example",
        {"exp.yaml": yaml_text(SIMPLE)},
        check("exp.yaml", "--example", "default"),
        USAGE,
        ("give either a config file or --example, not both",),
    ),
    Case("unknown-option", {}, ("run", "--epoch=3"), USAGE, ("unrecognized arguments: --epoch=3",)),
    Case("unknown-command", {}, ("rn",), USAGE, ("invalid choice: 'rn'",)),
    Case(
        "results-dir-is-a-file",
        {"exp.yaml": yaml_text(SIMPLE), "not_a_dir": "x"},
        ("run", "exp.yaml", "--results-dir", "not_a_dir"),
        USAGE,
        ("cannot create a run folder under", "not_a_dir"),
    ),
    # inputs that look wrong but are fine
    Case(
        "ok-fewer-rows-than-one-batch",
        tabular(csv=HEADER + "".join(f"{i},{i * 2 % 5},{'ab'[i % 2]}\n" for i in range(6))),
        run("exp.yaml", *override("training_config.batch_size=32")),
        OK,
        ("Run finished: ", "epochs completed"),
    ),
    Case(
        "ok-yaml-merge-key-overridden",
        {
            "exp.yaml": yaml_text(SIMPLE, training_config=...)
            + "training_config:\n  <<: {epochs: 5, batch_size: 8}\n  epochs: 1\n"
        },
        check(),
        OK,
        ("Config OK: bad_inputs",),
    ),
]


# --- running a row ------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (folders as None), file contents included; __pycache__ ignored."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        found[path.relative_to(root).as_posix()] = None if path.is_dir() else path.read_bytes()
    return found


def old_run(root: Path) -> None:
    """A finished run of the same experiment that no later mistake may touch."""
    run_dir = root / OLD_RUN
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml_text(SIMPLE), encoding="utf-8")
    (run_dir / "final_results.json").write_text(json.dumps({"final_val_loss": 0.5}), encoding="utf-8")
    (run_dir / "checkpoints" / "best.pt").write_bytes(b"\x00weights\x01")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with one earlier run; no AIFORGE_* settings but tracking off."""
    for name in list(os.environ):
        if name.upper().startswith("AIFORGE_") and name != "AIFORGE_TRACKING":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AIFORGE_TRACKING", "false")
    monkeypatch.chdir(tmp_path)
    old_run(tmp_path)
    return tmp_path


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def full_argv(case: Case, root: Path) -> list[str]:
    argv = list(case.argv)
    if argv[0] == "run" and "--results-dir" not in argv:
        argv += ["--results-dir", str(root / "results"), *override("training_config.epochs=1")]
    return argv


def call_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own usage errors
        return int(exit_.code or 0)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_files(workdir, case.files)
    if case.setup is not None:
        case.setup(workdir, monkeypatch)
    before = snapshot(workdir)

    code = call_main(full_argv(case, workdir))

    out, err = capsys.readouterr()
    shown = out if case.code == OK else err
    assert code == case.code, f"exit {code}, expected {case.code}\nstdout:\n{out}\nstderr:\n{err}"
    for message in case.messages:
        assert message in shown, f"{message!r} not in:\n{shown}"
    assert "Traceback (most recent call last)" not in out + err
    if case.code not in (OK, INTERRUPTED):
        assert "error:" not in out
        error_lines = [line for line in err.splitlines() if line.startswith(("error:", "usage:"))]
        assert len(error_lines) == 1, err  # one message, not one per layer

    after = snapshot(workdir)
    # The earlier run is never touched, whatever happened.
    old = {k: v for k, v in before.items() if k.startswith(OLD_RUN.as_posix())}
    assert {k: after.get(k) for k in old} == old
    for outside in case.outside:
        assert not (workdir / outside).exists()
    new = sorted(set(after) - set(before))
    if case.code == OK and case.argv[0] == "run":
        runs = {Path(p).parts[2] for p in new if p.startswith(f"results/{EXPERIMENT}/")}
        assert len(runs) == 1, new
        assert all(p.startswith(f"results/{EXPERIMENT}/") for p in new), new
    elif case.clean or case.code == OK:
        assert after == before, f"left behind: {new}"
    else:
        # A plugin bug or an interrupt may keep the new run folder (its debug log holds the
        # traceback), but nothing lands anywhere else.
        assert all(p.startswith(f"results/{EXPERIMENT}/") for p in new), new
        assert {k: v for k, v in after.items() if k in before} == before


def test_the_table_covers_each_exit_code() -> None:
    assert {case.code for case in CASES} == {OK, USAGE, FAILURE, INTERRUPTED}
    assert len({case.id for case in CASES}) == len(CASES)


def test_debug_shows_the_traceback(workdir: Path, capsys) -> None:
    """Without --debug one message; with it, the traceback as well, and the same exit code."""
    write_files(workdir, {"exp.yaml": with_training(SIMPLE, epochs=0)})
    assert call_main(["check", "exp.yaml", "--debug"]) == USAGE
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "training_config.epochs: Input should be greater than 0" in err


# --- the real command, in a subprocess ----------------------------------------------------------

SUBPROCESS_CASES = [
    "yaml-malformed",
    "plugin-model-misspelled",
    "tabular-text-in-numeric-column",
    "name-traversal",
    "plugin-bug-during-run",
]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_in_a_subprocess(case_id: str, workdir: Path) -> None:
    case = next(case for case in CASES if case.id == case_id)
    write_files(workdir, case.files)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AIFORGE_")}
    env["AIFORGE_TRACKING"] = "false"
    if case.setup is not None:
        with pytest.MonkeyPatch.context() as patch:
            case.setup(workdir, patch)
    before = snapshot(workdir)
    result = subprocess.run(
        [sys.executable, "-m", "aiforge", *full_argv(case, workdir)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == case.code, result.stderr
    for message in case.messages:
        assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    if case.clean:
        assert snapshot(workdir) == before
