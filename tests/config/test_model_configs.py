"""The experiment schema: the seed's Python API, validation of every field, the JSON schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from aiforge.config.model_configs import (
    ExperimentConfig,
    ModelSpecificConfig,
    SchedulerConfig,
    SimpleNNConfig,
    TrainingConfig,
    experiment_json_schema,
    monitor_key,
)
from aiforge.errors import PluginError

SEED_FIELDS = (
    "experiment_name",
    "model_plugin",
    "dataset_plugin",
    "data_path",
    "preprocess_args",
    "model_config",
    "training_config",
)
SEED_TRAINING_FIELDS = (
    "epochs",
    "batch_size",
    "learning_rate",
    "optimizer_name",
    "loss_fn_name",
    "gradient_clip_norm",
    "early_stopping_patience",
    "early_stopping_monitor",
    "early_stopping_mode",
    "use_distributed",
    "local_rank",
    "world_size",
)


def seed_config(**changes: Any) -> ExperimentConfig:
    """The seed's own example, written exactly as its README did."""
    kwargs: dict[str, Any] = {
        "experiment_name": "simple_nn_classification_experiment",
        "model_plugin": "simple_nn",
        "dataset_plugin": "simple_nn",
        "data_path": "data/dummy_classification_data.pkl",
        "preprocess_args": {"scaler_type": "standard"},
        "model_config": SimpleNNConfig(
            input_dim=10, hidden_dim=64, output_dim=2, dropout_rate=0.3, activation_fn="ReLU"
        ),
        "training_config": TrainingConfig(
            epochs=5,
            batch_size=16,
            learning_rate=0.005,
            optimizer_name="Adam",
            loss_fn_name="CrossEntropyLoss",
            early_stopping_patience=2,
            early_stopping_monitor="val_loss",
            early_stopping_mode="min",
        ),
    }
    kwargs.update(changes)
    return ExperimentConfig(**kwargs)


def minimal(**changes: Any) -> ExperimentConfig:
    return ExperimentConfig(model_plugin="simple_nn", dataset_plugin="simple_nn", **changes)


# --- the seed's Python API -------------------------------------------------------------


def test_seed_api_builds_and_keeps_every_value() -> None:
    config = seed_config()
    model = config.model_specific_config
    assert isinstance(model, SimpleNNConfig)
    assert (model.input_dim, model.hidden_dim, model.output_dim) == (10, 64, 2)
    assert (model.dropout_rate, model.activation_fn) == (0.3, "ReLU")
    tc = config.training_config
    assert (tc.epochs, tc.batch_size, tc.learning_rate) == (5, 16, 0.005)
    assert (tc.optimizer_name, tc.loss_fn_name) == ("Adam", "CrossEntropyLoss")
    assert (tc.early_stopping_patience, tc.early_stopping_monitor, tc.early_stopping_mode) == (
        2,
        "val_loss",
        "min",
    )
    assert config.data_path == "data/dummy_classification_data.pkl"
    assert config.preprocess_args == {"scaler_type": "standard"}


def test_seed_field_names_are_the_schema() -> None:
    assert set(SEED_FIELDS) <= {info.alias or name for name, info in ExperimentConfig.model_fields.items()}
    assert set(SEED_TRAINING_FIELDS) <= set(TrainingConfig.model_fields)


def test_dump_by_alias_uses_model_config_key_with_subclass_fields() -> None:
    dumped = seed_config().model_dump(by_alias=True)
    assert "model_specific_config" not in dumped
    assert dumped["model_config"] == {
        "input_dim": 10,
        "hidden_dim": 64,
        "output_dim": 2,
        "num_hidden_layers": 1,
        "dropout_rate": 0.3,
        "activation_fn": "ReLU",
        "embedding_cardinalities": None,  # filled from a table's many-level categories
        "embedding_dim": None,
    }
    assert json.loads(seed_config().model_dump_json(by_alias=True))["model_config"]["hidden_dim"] == 64


def test_dump_round_trips_to_an_equal_config() -> None:
    config = seed_config()
    again = ExperimentConfig.model_validate(config.model_dump(by_alias=True))
    assert again == config
    assert isinstance(again.model_specific_config, SimpleNNConfig)


def test_model_config_mapping_is_validated_by_the_plugin_schema() -> None:
    config = minimal(model_config={"hidden_dim": 256, "activation_fn": "GELU"})
    assert type(config.model_specific_config) is SimpleNNConfig
    assert config.model_specific_config.hidden_dim == 256
    assert config.model_specific_config.activation_fn == "GELU"


def test_missing_model_config_gives_the_plugin_defaults() -> None:
    config = minimal()
    assert config.model_specific_config == SimpleNNConfig()
    assert config.model_specific_config.hidden_dim == 128
    assert config.model_specific_config.input_dim is None  # filled in from the data later


def test_model_config_mapping_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"model_config\.hidden_dim\n.*greater than 0"):
        minimal(model_config={"hidden_dim": 0})
    with pytest.raises(ValidationError, match=r"model_config\.hiden_dim\n.*Extra inputs"):
        minimal(model_config={"hiden_dim": 3})
    with pytest.raises(ValidationError, match=r"activation_fn\n.*'ReLU'"):
        minimal(model_config={"activation_fn": "Swish"})


def test_unknown_model_plugin_in_python_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match=r"unknown plugin 'simpel_nn' \(did you mean 'simple_nn'\?\)"):
        ExperimentConfig(model_plugin="simpel_nn", dataset_plugin="simple_nn")


def test_assigning_model_config_revalidates_with_the_plugin_schema() -> None:
    config = minimal()
    config.model_specific_config = {"hidden_dim": 7}  # type: ignore[assignment]
    assert isinstance(config.model_specific_config, SimpleNNConfig)
    assert config.model_specific_config.hidden_dim == 7


def test_unknown_top_level_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"epochs\n.*Extra inputs are not permitted"):
        minimal(epochs=3)
    with pytest.raises(ValidationError, match=r"training_config\.epoch\n.*Extra inputs"):
        minimal(training_config={"epoch": 3})


def test_required_plugins_are_required() -> None:
    with pytest.raises(ValidationError, match=r"model_plugin\n\s+Field required"):
        ExperimentConfig(dataset_plugin="simple_nn")  # type: ignore[call-arg]


# --- experiment_name becomes a folder name -----------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../x", "/abs", "a/b", "..", ".", "", "x" * 101, "a\\b", ".hidden", "-flag", "exp\n", "a b", "é"],
)
def test_unsafe_experiment_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match=r"experiment_name\n.*must be 1-100 characters"):
        minimal(experiment_name=name)


@pytest.mark.parametrize("name", ["exp_1.v2-a", "x", "x" * 100, "0start", "digits_mlp"])
def test_safe_experiment_names_are_kept(name: str) -> None:
    assert minimal(experiment_name=name).experiment_name == name


# --- ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("training", "path", "expected"),
    [
        ({"epochs": 0}, "epochs", "greater than 0"),
        ({"batch_size": -1}, "batch_size", "greater than 0"),
        ({"learning_rate": -0.1}, "learning_rate", "greater than 0"),
        ({"learning_rate": 0}, "learning_rate", "greater than 0"),
        ({"gradient_clip_norm": 0}, "gradient_clip_norm", "greater than 0"),
        ({"early_stopping_patience": 0}, "early_stopping_patience", "greater than 0"),
        ({"early_stopping_mode": "up"}, "early_stopping_mode", "'min' or 'max'"),
        ({"early_stopping_min_delta": -1}, "early_stopping_min_delta", "greater than or equal to 0"),
        ({"world_size": 0}, "world_size", "greater than 0"),
        ({"local_rank": -1}, "local_rank", "greater than or equal to 0"),
        ({"epochs": "many"}, "epochs", "valid integer"),
    ],
)
def test_training_values_out_of_range(training: dict[str, Any], path: str, expected: str) -> None:
    with pytest.raises(ValidationError, match=rf"training_config\.{path}\n.*{expected}"):
        minimal(training_config=training)


@pytest.mark.parametrize(("rate", "expected"), [(1.5, "less than or equal to 1"), (-0.1, "greater than")])
def test_dropout_out_of_range(rate: float, expected: str) -> None:
    with pytest.raises(ValidationError, match=rf"dropout_rate\n.*{expected}"):
        SimpleNNConfig(dropout_rate=rate)
    assert SimpleNNConfig(dropout_rate=0.0).dropout_rate == 0.0


@pytest.mark.parametrize("fraction", [0, 1, -0.2, 1.5])
def test_val_fraction_must_be_strictly_between_0_and_1(fraction: float) -> None:
    with pytest.raises(ValidationError, match=r"val_fraction\n.*(greater|less) than"):
        minimal(val_fraction=fraction)
    assert minimal(val_fraction=0.5).val_fraction == 0.5


def test_negative_seed_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"seed\n.*greater than or equal to 0"):
        minimal(seed=-1)


def test_validate_assignment_rejects_bad_values_later() -> None:
    config = minimal()
    with pytest.raises(ValidationError, match="epochs"):
        config.training_config.epochs = 0
    with pytest.raises(ValidationError, match="experiment_name"):
        config.experiment_name = "../escape"
    assert config.training_config.epochs == 10 and config.experiment_name == "default_experiment"


# --- optimizers, losses, schedulers, metrics by name --------------------------------------


@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "NAdam"])
def test_any_torch_optimizer_is_accepted(name: str) -> None:
    assert TrainingConfig(optimizer_name=name).optimizer_name == name


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "BCEWithLogitsLoss", "HuberLoss", "NLLLoss"])
def test_any_torch_loss_is_accepted(name: str) -> None:
    assert TrainingConfig(loss_fn_name=name).loss_fn_name == name


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "optimizer_name",
            "Adamm",
            r"unknown optimizer 'Adamm' \(did you mean 'Adam'\?\); available: .*AdamW",
        ),
        ("optimizer_name", "adam", r"unknown optimizer 'adam' \(did you mean 'Adam'\?\)"),
        ("optimizer_name", "Optimizer", r"unknown optimizer 'Optimizer'"),  # the base class itself
        ("optimizer_name", "_private", r"unknown optimizer '_private'"),
        ("loss_fn_name", "MSELos", r"unknown loss function 'MSELos' \(did you mean 'MSELoss'\?\)"),
        ("loss_fn_name", "Linear", r"unknown loss function 'Linear'"),  # in torch.nn, but not a loss
    ],
)
def test_unknown_optimizer_and_loss_names(field: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrainingConfig(**{field: value})


def test_schedulers_by_name() -> None:
    plateau = SchedulerConfig(name="ReduceLROnPlateau", args={"factor": 0.5}, monitor="val_loss")
    assert plateau.name == "ReduceLROnPlateau" and plateau.args == {"factor": 0.5}
    assert SchedulerConfig(name="CosineAnnealingLR", args={"T_max": 10}).monitor == "val_loss"
    tc = TrainingConfig(scheduler={"name": "StepLR", "args": {"step_size": 3}})
    assert isinstance(tc.scheduler, SchedulerConfig) and tc.scheduler.args == {"step_size": 3}
    with pytest.raises(ValidationError, match=r"unknown LR scheduler 'StepLRR' \(did you mean 'StepLR'\?\)"):
        SchedulerConfig(name="StepLRR")
    with pytest.raises(ValidationError, match=r"unknown LR scheduler 'LRScheduler'"):
        SchedulerConfig(name="LRScheduler")  # the abstract base is not a usable scheduler
    with pytest.raises(ValidationError, match=r"scheduler\.gamma\n.*Extra inputs"):
        TrainingConfig(scheduler={"name": "StepLR", "gamma": 0.5})  # belongs in args


def test_metrics_are_validated_and_deduplicated() -> None:
    assert minimal(metrics=["accuracy", "f1", "accuracy"]).metrics == ["accuracy", "f1"]
    assert minimal().metrics is None  # chosen from the loss at run time
    with pytest.raises(ValidationError, match=r"unknown metric\(s\) \['acc'\]; available: accuracy, auroc"):
        minimal(metrics=["accuracy", "acc"])


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("accuracy", "val_accuracy"),
        ("val_accuracy", "val_accuracy"),
        ("val_loss", "val_loss"),
        ("loss", "val_loss"),
        ("train_loss", "train_loss"),
        ("lr", "lr"),
    ],
)
def test_monitor_names_are_normalised(given: str, key: str) -> None:
    assert monitor_key(given) == key
    assert TrainingConfig(early_stopping_monitor=given).early_stopping_monitor == key


def test_scheduler_monitor_is_normalised_like_early_stopping() -> None:
    # Regression: 'accuracy' used to be kept as is, and the run then failed because only
    # 'val_accuracy' is logged, while early_stopping_monitor: accuracy worked.
    config = SchedulerConfig(name="ReduceLROnPlateau", monitor="accuracy")
    assert config.monitor == "val_accuracy"


# --- ModelSpecificConfig --------------------------------------------------------------------


def test_model_specific_config_base_is_empty_and_strict() -> None:
    assert ModelSpecificConfig.model_fields == {}
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ModelSpecificConfig(hidden_dim=3)  # type: ignore[call-arg]


def test_simple_nn_config_defaults_and_literal_activation() -> None:
    config = SimpleNNConfig()
    assert (config.hidden_dim, config.num_hidden_layers, config.dropout_rate) == (128, 1, 0.2)
    assert config.input_dim is None and config.output_dim is None
    with pytest.raises(ValidationError, match=r"activation_fn\n.*Input should be 'ReLU', 'Sigmoid'"):
        SimpleNNConfig(activation_fn="relu")  # type: ignore[arg-type]


# --- JSON schema ------------------------------------------------------------------------------


def test_json_schema_covers_the_seed_fields_and_is_serialisable() -> None:
    schema = experiment_json_schema()
    assert set(SEED_FIELDS) <= set(schema["properties"])
    assert "model_specific_config" not in schema["properties"]
    assert {"model_plugin", "dataset_plugin"} <= set(schema["required"])
    model_config = schema["properties"]["model_config"]
    assert model_config["type"] == "object" and model_config["additionalProperties"] is True
    assert "hidden_dim" in model_config["description"]
    assert "ModelSpecificConfig" not in schema.get("$defs", {})
    training = schema["$defs"]["TrainingConfig"]
    assert set(SEED_TRAINING_FIELDS) <= set(training["properties"])
    assert training["additionalProperties"] is False  # unknown keys are errors in editors too
    text = json.dumps(schema)
    assert json.loads(text) == schema
    assert "#/$defs/ModelSpecificConfig" not in text  # no dangling reference


# --- regressions from the review fixes --------------------------------------------------------


@pytest.mark.parametrize(
    ("monitor", "mode"),
    [
        ("val_accuracy", "max"),
        ("accuracy", "max"),
        ("val_r2", "max"),
        ("val_f1", "max"),
        ("val_loss", "min"),
        ("loss", "min"),
        ("val_mse", "min"),
        ("train_loss", "min"),
    ],
)
def test_unset_early_stopping_mode_follows_the_monitor(monitor: str, mode: str) -> None:
    # Regression: the mode was always 'min', so monitoring val_accuracy kept the worst epoch.
    assert TrainingConfig(early_stopping_monitor=monitor).early_stopping_mode == mode
    from_file = minimal(training_config={"early_stopping_monitor": monitor})
    assert from_file.training_config.early_stopping_mode == mode


def test_explicit_early_stopping_mode_is_kept() -> None:
    assert TrainingConfig().early_stopping_mode == "min"
    config = TrainingConfig(early_stopping_monitor="val_accuracy", early_stopping_mode="min")
    assert config.early_stopping_mode == "min"
    config = TrainingConfig(early_stopping_monitor="val_loss", early_stopping_mode="max")
    assert config.early_stopping_mode == "max"


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_loss_reduction_other_than_mean_is_rejected(reduction: str) -> None:
    # Regression: a summed loss was averaged per batch again by the loop, silently scaling it.
    with pytest.raises(ValidationError, match=r"loss_fn_args\n.*reduction must be 'mean'"):
        TrainingConfig(loss_fn_args={"reduction": reduction})
    assert TrainingConfig(loss_fn_args={"reduction": "mean"}).loss_fn_args == {"reduction": "mean"}


def test_seed_must_fit_in_32_bits() -> None:
    # Regression: numpy's seed accepts at most 2**32 - 1, so a larger seed crashed the run.
    with pytest.raises(ValidationError, match=r"seed\n.*less than or equal to 4294967295"):
        minimal(seed=2**32)
    assert minimal(seed=2**32 - 1).seed == 2**32 - 1


def test_empty_metrics_list_is_rejected() -> None:
    # Regression: metrics: [] was accepted and then silently replaced by the default set.
    with pytest.raises(ValidationError, match=r"metrics\n.*name at least one metric"):
        minimal(metrics=[])
