"""Property-based tests of the config loader: whatever a file or a ``-o`` holds, the answer is a
valid ExperimentConfig or a ConfigError with a message, never any other exception."""

from __future__ import annotations

import json
import math
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aiforge.config.loading import apply_overrides, build_experiment_config, read_config_file
from aiforge.config.model_configs import (
    ExperimentConfig,
    SchedulerConfig,
    SimpleNNConfig,
    TrackingConfig,
    TrainingConfig,
)
from aiforge.errors import ConfigError

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _keys(model: type) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


REAL_KEYS = sorted(
    {
        *_keys(ExperimentConfig),
        *_keys(TrainingConfig),
        *_keys(SimpleNNConfig),
        *_keys(SchedulerConfig),
        *_keys(TrackingConfig),
    }
)


@st.composite
def near_miss(draw: st.DrawFn) -> str:
    """A real key with one typo: a letter dropped, doubled, swapped or changed."""
    key = draw(st.sampled_from(REAL_KEYS))
    i = draw(st.integers(0, len(key) - 1))
    edit = draw(st.sampled_from(["drop", "double", "swap", "change"]))
    if edit == "drop":
        return key[:i] + key[i + 1 :]
    if edit == "double":
        return key[:i] + key[i] + key[i:]
    if edit == "swap" and i + 1 < len(key):
        return key[:i] + key[i + 1] + key[i] + key[i + 2 :]
    return key[:i] + draw(st.sampled_from(string.ascii_lowercase)) + key[i + 1 :]


KEYS = st.one_of(st.sampled_from(REAL_KEYS), near_miss(), st.text(max_size=12))
# Plugin names stay away from dotted paths: a dotted name is imported, and random text must
# not import arbitrary modules of the standard library.
PLUGIN_NAMES = st.one_of(
    st.sampled_from(["simple_nn", "tabular", "iris", "digits", "simple_mn", "tabluar", "", " ", "nope"]),
    st.text(alphabet=string.ascii_letters + string.digits + "_-/ ", max_size=12),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # small, negative and huge
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**64), 10**30]),
    st.floats(),  # nan and inf included
    st.text(max_size=20),
    st.sampled_from(["ten", "fast", "1e-3", "yes", "", "../../x", "/tmp/x", "a\x00b"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)
# Values that the schema's sections can hold, half the time with the right shape.
SECTION = st.dictionaries(KEYS, VALUES, max_size=6)


@st.composite
def config_mappings(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly config-shaped: the real sections with random contents, plus random extra keys."""
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data["model_plugin"] = draw(PLUGIN_NAMES | SCALARS)
    if draw(st.booleans()):
        data["dataset_plugin"] = draw(PLUGIN_NAMES | SCALARS)
    for section in ("training_config", "model_config", "dataset_args", "tracking"):
        if draw(st.booleans()):
            data[section] = draw(SECTION | VALUES)
    for key in ("experiment_name", "seed", "val_fraction", "metrics", "data_path"):
        if draw(st.integers(0, 3)) == 0:
            data[key] = draw(VALUES)
    data.update(draw(st.dictionaries(KEYS, VALUES, max_size=3)))
    return data


def assert_config_or_config_error(function: Any, *args: Any) -> Any:
    """Call the loader; a ConfigError must say something, anything else is a bug."""
    try:
        result = function(*args)
    except ConfigError as err:
        assert str(err).strip(), "a ConfigError without a message"
        return None
    return result


@FUZZ
@given(data=config_mappings())
def test_build_gives_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    config = assert_config_or_config_error(build_experiment_config, data, "fuzz.yaml")
    assert config is None or isinstance(config, ExperimentConfig)


@FUZZ
@given(data=st.dictionaries(KEYS, VALUES, max_size=8))
def test_build_on_any_mapping(data: dict[str, Any]) -> None:
    assert_config_or_config_error(build_experiment_config, data)


OVERRIDE_KEYS = st.lists(KEYS, min_size=0, max_size=4).map(".".join)
OVERRIDES = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", OVERRIDE_KEYS, st.text(max_size=20)),
    st.builds(
        lambda k, v: f"{k}={json.dumps(v, allow_nan=True)}", OVERRIDE_KEYS, VALUES
    ),  # JSON is YAML: lists, mappings, numbers
    st.text(max_size=30),  # anything, with or without '='
    st.sampled_from(
        [
            "training_config.epochs",
            "=3",
            "a..b=1",
            "training_config.epochs=" + "9" * 5000,
            "x=" + "[" * 200 + "]" * 200,  # deeper than MAX_DEPTH
            "a=&x [*x]",
            "a=!!python/object/apply:os.system [echo hi]",
            "experiment_name.x=1",
        ]
    ),
)


@FUZZ
@given(data=config_mappings(), overrides=st.lists(OVERRIDES, max_size=4))
def test_overrides_give_a_mapping_or_a_config_error(data: dict[str, Any], overrides: list[str]) -> None:
    before = repr(data)
    result = assert_config_or_config_error(apply_overrides, data, overrides)
    assert repr(data) == before  # the input is never changed
    if result is not None:
        assert isinstance(result, dict)
        json.dumps(result, allow_nan=True)  # plain data: JSON can carry it
        assert_config_or_config_error(build_experiment_config, result)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_files")


def _yaml(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False).encode("utf-8")  # as the run folder's config.yaml


def _json(data: Any) -> bytes:
    return json.dumps(data, allow_nan=True).encode("utf-8")


def _toml(data: dict[str, Any]) -> bytes:
    """A rough TOML writer for flat scalars and one level of tables (enough to be mostly valid)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return json.dumps(v) if v is not None else '""'

    lines, tables = [], []
    for key, v in data.items():
        if isinstance(v, dict):
            tables.append(f"[{json.dumps(key)}]")
            tables += [
                f"{json.dumps(k)} = {value(x)}" for k, x in v.items() if not isinstance(x, dict | list)
            ]
        elif not isinstance(v, list):
            lines.append(f"{json.dumps(key)} = {value(v)}")
    return "\n".join(lines + tables).encode("utf-8")


@st.composite
def file_contents(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".yaml", ".yml", ".json", ".toml"]))
    data = draw(config_mappings())
    writer = {".yaml": _yaml, ".yml": _yaml, ".json": _json, ".toml": _toml}[suffix]
    content = draw(
        st.one_of(
            st.just(writer(data)),  # well-formed, with random contents
            st.binary(max_size=200),  # random bytes
            st.text(max_size=200).map(lambda t: t.encode("utf-8")),  # random text
            st.builds(  # well-formed, then cut short or with junk spliced in
                lambda text, cut, junk: text[:cut] + junk + text[cut:],
                st.just(writer(data)),
                st.integers(0, 400),
                st.binary(max_size=8),
            ),
            st.sampled_from(
                [
                    b"",
                    b"   \n",
                    b"- a\n- b\n",
                    b"[1, 2]",
                    b"a: &x [*x]\n",
                    b"a: !!python/object/apply:os.system [echo hi]\n",
                    b"2024-01-31: 1\n1: a\n'1': b\n",
                    b'{"a": 1, "a": 2}',
                    b"a = 1\na = 2\n",
                    b"a: " + b"[" * 200 + b"]" * 200,
                    b'{"a": ' + b"9" * 5000 + b"}",
                ]
            ),
        )
    )
    return suffix, content


@FUZZ
@given(file=file_contents())
def test_reading_any_file_gives_a_mapping_or_a_config_error(folder: Path, file: tuple[str, bytes]) -> None:
    suffix, content = file
    path = folder / f"fuzz{suffix}"
    path.write_bytes(content)
    data = assert_config_or_config_error(read_config_file, path)
    if data is not None:
        assert isinstance(data, dict)
        json.dumps(data, allow_nan=True)  # plain data only: no dates, sets or shared parts
        assert_config_or_config_error(build_experiment_config, data, str(path))


# --- valid configs round-trip -------------------------------------------------------------------

FINITE_POSITIVE = st.floats(min_value=1e-8, max_value=10.0, allow_nan=False, allow_infinity=False)


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    training: dict[str, Any] = {
        "epochs": draw(st.integers(1, 10**6)),
        "batch_size": draw(st.integers(1, 4096)),
        "learning_rate": draw(FINITE_POSITIVE),
        "optimizer_name": draw(st.sampled_from(["Adam", "AdamW", "SGD", "RMSprop"])),
        "optimizer_args": draw(
            st.dictionaries(st.sampled_from(["weight_decay", "eps"]), FINITE_POSITIVE, max_size=2)
        ),
        "gradient_clip_norm": draw(st.none() | FINITE_POSITIVE),
        "gradient_accumulation_steps": draw(st.integers(1, 8)),
        "early_stopping_patience": draw(st.none() | st.integers(1, 50)),
        "early_stopping_min_delta": draw(st.floats(0, 1)),
    }
    if draw(st.booleans()):
        training["scheduler"] = {
            "name": "StepLR",
            "args": {"step_size": draw(st.integers(1, 10)), "gamma": draw(st.floats(0.01, 1))},
        }
    model: dict[str, Any] = {
        "hidden_dim": draw(st.integers(1, 4096)),
        "num_hidden_layers": draw(st.integers(1, 8)),
        "dropout_rate": draw(st.floats(0, 1)),
        "activation_fn": draw(st.sampled_from(["ReLU", "Tanh", "GELU", "SiLU"])),
    }
    if draw(st.booleans()):
        model["input_dim"] = draw(st.integers(1, 10**6))
    metrics = draw(
        st.none() | st.lists(st.sampled_from(["accuracy", "f1", "precision"]), min_size=1, unique=True)
    )
    training["early_stopping_monitor"] = draw(st.sampled_from(["val_loss", *(metrics or ["accuracy"])]))
    return {
        "experiment_name": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}", fullmatch=True)),
        "model_plugin": "simple_nn",
        "dataset_plugin": draw(st.sampled_from(["simple_nn", "iris", "tabular"])),
        "data_path": draw(st.none() | st.sampled_from(["data.csv", "/abs/data.parquet", "sub dir/d.tsv"])),
        "dataset_args": draw(st.dictionaries(st.sampled_from(["num_samples", "seed"]), st.integers(1, 999))),
        "preprocess_args": draw(
            st.sampled_from([{}, {"scaler_type": "standard"}, {"scaler_type": "minmax"}])
        ),
        "model_config": model,
        "training_config": training,
        "seed": draw(st.integers(0, 2**32 - 1)),
        "val_fraction": draw(st.floats(0.01, 0.99)),
        "metrics": metrics,
        "tracking": {"enabled": draw(st.booleans()), "tags": {"team": draw(st.text(max_size=8))}},
    }


@FUZZ
@given(data=valid_configs(), suffix=st.sampled_from([".yaml", ".json"]))
def test_valid_config_round_trips(folder: Path, data: dict[str, Any], suffix: str) -> None:
    config = build_experiment_config(data)
    dumped = config.model_dump(mode="json", by_alias=True)
    assert build_experiment_config(dumped) == config
    # ... and through a file, as the run folder's config.yaml is read back by `aiforge run`.
    path = folder / f"round_trip{suffix}"
    path.write_bytes(_yaml(dumped) if suffix == ".yaml" else _json(dumped))
    again = build_experiment_config(read_config_file(path))
    assert again == config
    assert again.model_dump(mode="json", by_alias=True) == dumped


@FUZZ
@given(data=valid_configs(), key=st.sampled_from(REAL_KEYS), value=SCALARS)
def test_one_bad_value_in_a_valid_config(data: dict[str, Any], key: str, value: Any) -> None:
    """A valid config with one field (top level or training_config) set to a random scalar."""
    assume(key not in ("model_config",))
    section = data["training_config"] if key in TrainingConfig.model_fields else data
    section[key] = value
    assert_config_or_config_error(build_experiment_config, data)
