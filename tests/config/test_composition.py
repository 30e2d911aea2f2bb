"""Config composition: ``base:`` files merged in order, ``-o`` overrides, ``${...}`` references."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aiforge.config.loading import load_experiment_config
from aiforge.errors import ConfigError
from config_files import write

COMMON = {
    "experiment_name": "common",
    "model_plugin": "simple_nn",
    "dataset_plugin": "simple_nn",
    "dataset_args": {"num_samples": 100},
    "model_config": {"hidden_dim": 32, "dropout_rate": 0.1},
    "training_config": {"epochs": 3, "batch_size": 16, "learning_rate": 0.01},
    "metrics": ["accuracy", "f1"],
}


def test_bases_are_merged_in_order_then_the_file(tmp_path: Path) -> None:
    write(tmp_path / "common.yaml", COMMON)
    write(tmp_path / "model" / "large.yaml", {"model_config": {"hidden_dim": 128}, "metrics": ["accuracy"]})
    main = write(
        tmp_path / "exp.yaml",
        {
            "base": ["common.yaml", "model/large.yaml"],
            "experiment_name": "mine",
            "training_config": {"epochs": 5},
        },
    )
    config = load_experiment_config(main)
    assert config.experiment_name == "mine"
    assert config.model_specific_config.hidden_dim == 128  # the later base wins
    assert config.model_specific_config.dropout_rate == 0.1  # mappings merge deeply
    assert config.metrics == ["accuracy"]  # lists are replaced
    assert config.training_config.epochs == 5
    assert config.training_config.batch_size == 16


def test_a_single_base_nested_bases_and_paths_relative_to_each_file(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "common.yaml", COMMON)
    write(tmp_path / "shared" / "mid.yaml", {"base": "common.yaml", "training_config": {"batch_size": 8}})
    main = write(tmp_path / "exp.yaml", {"base": "shared/mid.yaml", "training_config": {"epochs": 2}})
    config = load_experiment_config(main)
    assert (config.training_config.batch_size, config.training_config.epochs) == (8, 2)
    assert config.experiment_name == "common"


def test_json_and_toml_bases(tmp_path: Path) -> None:
    (tmp_path / "common.json").write_text(json.dumps(COMMON), encoding="utf-8")
    write(tmp_path / "more.toml", 'base = "common.json"\n[training_config]\nepochs = 7\n')
    main = write(tmp_path / "exp.json", json.dumps({"base": ["more.toml"], "experiment_name": "j"}))
    config = load_experiment_config(main)
    assert (config.experiment_name, config.training_config.epochs) == ("j", 7)


def test_override_beats_file_beats_base(tmp_path: Path) -> None:
    write(tmp_path / "common.yaml", COMMON)
    main = write(
        tmp_path / "exp.yaml", {"base": "common.yaml", "training_config": {"epochs": 4, "batch_size": 4}}
    )
    config = load_experiment_config(main, ["training_config.epochs=9"])
    assert (config.training_config.epochs, config.training_config.batch_size) == (9, 4)


def test_a_cycle_names_the_chain_of_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", {"base": "b.yaml", **COMMON})
    write(tmp_path / "b.yaml", {"base": "a.yaml"})
    with pytest.raises(ConfigError, match="cycle") as err:
        load_experiment_config(tmp_path / "a.yaml")
    assert f"{tmp_path / 'a.yaml'} -> {tmp_path / 'b.yaml'} -> {tmp_path / 'a.yaml'}" in str(err.value)


def test_a_missing_base_names_the_file_that_refers_to_it(tmp_path: Path) -> None:
    main = write(tmp_path / "exp.yaml", {"base": ["nope.yaml"], **COMMON})
    with pytest.raises(ConfigError) as err:
        load_experiment_config(main)
    assert str(err.value).startswith(f"{main}: base:")
    assert "nope.yaml" in str(err.value)


def test_a_bad_base_value_is_refused(tmp_path: Path) -> None:
    main = write(tmp_path / "exp.yaml", {"base": 3, **COMMON})
    with pytest.raises(ConfigError, match="base: expected a file name or a list"):
        load_experiment_config(main)


def test_references_are_resolved_after_overrides(tmp_path: Path) -> None:
    data = {
        **COMMON,
        "experiment_name": "run_${training_config.batch_size}",
        "model_config": {"hidden_dim": "${training_config.batch_size}"},
    }
    main = write(tmp_path / "exp.yaml", data)
    config = load_experiment_config(main)
    assert config.experiment_name == "run_16"
    assert config.model_specific_config.hidden_dim == 16
    config = load_experiment_config(main, ["training_config.batch_size=64"])
    assert (config.experiment_name, config.model_specific_config.hidden_dim) == ("run_64", 64)


def test_a_reference_into_a_base_file(tmp_path: Path) -> None:
    write(tmp_path / "common.yaml", COMMON)
    main = write(
        tmp_path / "exp.yaml",
        {"base": "common.yaml", "model_config": {"hidden_dim": "${training_config.batch_size}"}},
    )
    assert load_experiment_config(main).model_specific_config.hidden_dim == 16


def test_a_missing_reference_names_the_file_key_and_reference(tmp_path: Path) -> None:
    write(tmp_path / "common.yaml", {**COMMON, "model_config": {"hidden_dim": "${training_config.width}"}})
    main = write(tmp_path / "exp.yaml", {"base": "common.yaml"})
    with pytest.raises(ConfigError) as err:
        load_experiment_config(main)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'common.yaml'}: model_config.hidden_dim:")
    assert "${training_config.width}" in message
    assert "no key 'training_config.width'" in message


def test_a_reference_cycle_is_an_error(tmp_path: Path) -> None:
    data = {
        **COMMON,
        "training_config": {
            "epochs": "${training_config.batch_size}",
            "batch_size": "${training_config.epochs}",
        },
    }
    main = write(tmp_path / "exp.yaml", data)
    with pytest.raises(ConfigError, match="cycle") as err:
        load_experiment_config(main)
    assert "training_config.epochs" in str(err.value)


def test_unknown_resolvers_are_refused_and_oc_env_is_read(tmp_path: Path, monkeypatch) -> None:
    main = write(tmp_path / "exp.yaml", {**COMMON, "experiment_name": "${oc.create:x}"})
    with pytest.raises(ConfigError, match=r"unknown resolver 'oc\.create'") as err:
        load_experiment_config(main)
    assert "experiment_name" in str(err.value)
    monkeypatch.setenv("AIFORGE_TEST_NAME", "from_env")
    main = write(tmp_path / "env.yaml", {**COMMON, "experiment_name": "${oc.env:AIFORGE_TEST_NAME}"})
    assert load_experiment_config(main).experiment_name == "from_env"


def test_an_escaped_reference_is_literal(tmp_path: Path) -> None:
    main = write(
        tmp_path / "exp.yaml", {**COMMON, "dataset_args": {"note": "cost_\\${x}", "n": "${seed}"}, "seed": 3}
    )
    assert load_experiment_config(main).dataset_args == {"note": "cost_${x}", "n": 3}


def test_a_bad_value_from_a_base_names_the_base_file(tmp_path: Path) -> None:
    base = write(tmp_path / "common.yaml", {**COMMON, "training_config": {"epochs": "many"}})
    main = write(tmp_path / "exp.yaml", {"base": "common.yaml", "experiment_name": "x"})
    with pytest.raises(ConfigError) as err:
        load_experiment_config(main)
    line = next(line for line in str(err.value).splitlines() if "training_config.epochs" in line)
    assert str(base) in line
    with pytest.raises(ConfigError) as err:
        load_experiment_config(main, ["training_config.epochs=lots"])
    line = next(line for line in str(err.value).splitlines() if "training_config.epochs" in line)
    assert "override 'training_config.epochs=lots'" in line


def test_a_plain_file_does_not_import_omegaconf(tmp_path: Path) -> None:
    main = write(tmp_path / "exp.yaml", COMMON)
    code = (
        "import sys; from aiforge.config.loading import load_experiment_config as l; "
        f"l({str(main)!r}); print('omegaconf' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_run_folder_config_with_base_is_refused(tmp_path: Path) -> None:
    from aiforge.core.plugins import run_folder_plugins

    write(tmp_path / "common.yaml", COMMON)
    saved = write(tmp_path / "run" / "config.yaml", {"base": "../common.yaml", "experiment_name": "x"})
    with run_folder_plugins(saved), pytest.raises(ConfigError, match="run folder is data"):
        load_experiment_config(saved)


def test_a_run_folder_config_keeps_references_as_text(tmp_path: Path, monkeypatch) -> None:
    from aiforge.core.plugins import run_folder_plugins

    monkeypatch.setenv("AIFORGE_SECRET", "secret")
    data = {**COMMON, "dataset_args": {"num_samples": 100, "note": "${oc.env:AIFORGE_SECRET}"}}
    saved = write(tmp_path / "run" / "config.yaml", data)
    with run_folder_plugins(saved):
        assert load_experiment_config(saved).dataset_args["note"] == "${oc.env:AIFORGE_SECRET}"


def test_the_saved_record_has_no_references_and_no_base(tmp_path: Path) -> None:
    from aiforge.runs.records import config_record

    write(tmp_path / "common.yaml", COMMON)
    main = write(tmp_path / "exp.yaml", {"base": "common.yaml", "seed": 7, "experiment_name": "r_${seed}"})
    text = yaml.safe_dump(config_record(load_experiment_config(main)))
    assert "${" not in text and "base" not in yaml.safe_load(text)
    assert "r_7" in text


def test_a_sweep_file_with_a_base_and_references(tmp_path: Path) -> None:
    from aiforge.sweeps.loading import load_sweep_file

    write(tmp_path / "common.yaml", COMMON)
    space = {"training_config.learning_rate": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}
    main = write(
        tmp_path / "sweep.yaml",
        {
            "base": "common.yaml",
            "model_config": {"hidden_dim": "${training_config.batch_size}"},
            "sweep": {"space": space, "trials": 2},
        },
    )
    setup = load_sweep_file(main, ["training_config.batch_size=8"])
    assert setup.config.model_specific_config.hidden_dim == 8
    assert "base" not in setup.base and setup.sweep.trials == 2
    bad = write(tmp_path / "bad.yaml", {"base": "missing.yaml", "sweep": {"space": space}})
    with pytest.raises(ConfigError, match="base:"):
        load_sweep_file(bad)


def test_a_base_chain_deeper_than_the_limit_is_refused(tmp_path: Path) -> None:
    from aiforge.config.composition import MAX_BASE_DEPTH

    write(tmp_path / "f0.yaml", COMMON)
    for index in range(1, MAX_BASE_DEPTH + 2):
        write(tmp_path / f"f{index}.yaml", {"base": f"f{index - 1}.yaml"})
    with pytest.raises(ConfigError, match="files deep"):
        load_experiment_config(tmp_path / f"f{MAX_BASE_DEPTH + 1}.yaml")
    assert load_experiment_config(tmp_path / "f10.yaml").experiment_name == "common"


def test_a_base_name_no_file_can_have_is_a_config_error(tmp_path: Path) -> None:
    main = write(tmp_path / "exp.yaml", {"base": "bad\x00name.yaml", **COMMON})
    with pytest.raises(ConfigError, match="base:"):
        load_experiment_config(main)
