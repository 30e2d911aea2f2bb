"""The tabular encoder (imputation, indicators, scaling, vocabularies) and simple_nn's embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aiforge.config.model_configs import SimpleNNConfig
from aiforge.data.scaling import FeatureScaler
from aiforge.errors import ArgumentError, DataError
from aiforge.plugins.simple_nn.model import Model
from aiforge.plugins.tabular.columns import RawTable
from aiforge.plugins.tabular.encoding import TableEncoder


def table(numbers: list[list[float]], *columns: list[str | None], names: tuple[str, ...] = ()) -> RawTable:
    cats = [np.array(c, dtype=object) for c in columns]
    width = len(numbers[0]) if numbers else 0
    return RawTable(
        torch.tensor(numbers, dtype=torch.float32).reshape(len(cats[0]) if cats else len(numbers), width),
        [f"n{i}" for i in range(width)],
        cats,
        list(names) or [f"c{i}" for i in range(len(cats))],
    )


NAN = float("nan")


def test_numbers_are_imputed_flagged_and_scaled() -> None:
    train = table([[1.0, 5.0], [NAN, 5.0], [3.0, 5.0], [8.0, 5.0]], ["a", "a", "b", "b"])
    encoder = TableEncoder()
    encoder.fit(train, impute="median", scaler_type="none")
    out = encoder.transform_batch({"features": train})["features"]
    # n0 (median 3), n1, the n0 missing flag, one-hot of c0: unknown, (missing), a, b
    assert out[1].tolist() == [3.0, 5.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert encoder.output_names() == [
        "n0",
        "n1",
        "n0.missing",
        "c0=(unknown)",
        "c0=(missing)",
        "c0=a",
        "c0=b",
    ]
    encoder.fit(train, impute="mean", scaler_type="none", missing_indicators="never")
    assert encoder.transform_batch({"features": train})["features"][1, :2].tolist() == [4.0, 5.0]
    encoder.fit(train, missing_indicators="always")
    assert encoder.indicator_columns == [0, 1]


def test_numbers_without_gaps_scale_exactly_as_feature_scaler() -> None:
    numbers = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 4 + 2
    for scaler_type in ("standard", "minmax", "none"):
        scaler, encoder = FeatureScaler(), TableEncoder()
        scaler.fit(numbers, scaler_type=scaler_type)
        encoder.fit(RawTable(numbers, ["a", "b", "c"]), scaler_type=scaler_type)
        expected = scaler.transform_batch({"features": numbers})["features"]
        assert torch.equal(
            encoder.transform_batch({"features": RawTable(numbers, ["a", "b", "c"])})["features"], expected
        )


def test_levels_seen_only_outside_training_go_to_the_unknown_bucket(warnings: list[str]) -> None:
    train = table([[0.0]] * 4, ["red", "blue", None, "red"], names=("color",))
    encoder = TableEncoder()
    encoder.fit(train)
    assert encoder.vocabularies == [["(missing)", "blue", "red"]]
    val = table([[0.0]] * 3, ["green", "red", "green"], names=("color",))
    out = encoder.transform_batch({"features": val})["features"]
    assert out[:, 1:].tolist() == [[1, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]]  # unknown, red, unknown
    unknown = [m for m in warnings if "unknown bucket" in m]
    assert len(unknown) == 1
    assert "'color': 2 row(s), e.g. 'green'" in unknown[0]


def test_many_levels_become_an_embedding_index_placed_first() -> None:
    levels = [f"city{i:02d}" for i in range(12)]
    train = table([[float(i)] for i in range(12)], levels, ["x", "y"] * 6, names=("city", "kind"))
    encoder = TableEncoder()
    encoder.fit(train, max_onehot_levels=10)
    assert encoder.embedded == [True, False]
    assert encoder.model_dims() == {"embedding_cardinalities": [14]}  # 12 levels, (missing), unknown
    out = encoder.transform_batch({"features": train[torch.tensor([0, 11])]})["features"]
    assert out[:, 0].tolist() == [2.0, 13.0]  # index 1 is (missing), the sorted levels follow
    assert out.shape == (2, 1 + 1 + 4)
    encoder.fit(train, max_onehot_levels=12)
    assert encoder.model_dims() == {}
    with pytest.raises(ArgumentError, match="max_onehot_levels"):
        encoder.fit(train, max_onehot_levels="many")
    with pytest.raises(ArgumentError, match="impute must be mean or median, not 'mode'"):
        encoder.fit(train, impute="mode")


def test_state_round_trips_through_save_and_load(tmp_path: Path) -> None:
    levels = [f"v{i}" for i in range(15)]
    train = table([[float(i), NAN if i % 4 else 1.0] for i in range(15)], levels, names=("big",))
    encoder = TableEncoder()
    encoder.fit(train, impute="median", scaler_type="minmax")
    encoder.save(tmp_path / "p.safetensors")
    loaded = TableEncoder()
    loaded.load(tmp_path / "p.safetensors")
    assert loaded.state_dict().keys() == encoder.state_dict().keys()
    for key, value in encoder.state_dict().items():
        other = loaded.state_dict()[key]
        assert torch.equal(other, value) if isinstance(value, torch.Tensor) else other == value
    batch = {"features": train}
    assert torch.equal(loaded.transform_batch(batch)["features"], encoder.transform_batch(batch)["features"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vocabularies": [["b", "a", "(missing)"]]}, "sorted distinct texts"),
        ({"indicator_columns": [7]}, "indicator_columns"),
        ({"embedded": ["yes"]}, "'embedded'"),
        ({"impute": "mode"}, "impute must be"),
        ({"fill": torch.zeros(3)}, "'fill' must be a float32 tensor of 2 values"),
        ({"scale": torch.tensor([1.0, -1.0])}, "'scale' must be positive"),
    ],
)
def test_a_damaged_state_is_refused(tmp_path: Path, change: dict, message: str) -> None:
    encoder = TableEncoder()
    encoder.fit(table([[1.0, 2.0], [3.0, 4.0]], ["a", "b"]))
    state = {**encoder.state_dict(), **change}
    with pytest.raises(ValueError, match=message):
        TableEncoder().load_state_dict(state)
    broken = TableEncoder()
    for key, value in change.items():
        setattr(encoder, key, value)
    try:
        encoder.save(tmp_path / "p.safetensors")
    except TypeError:
        return
    with pytest.raises(DataError, match="not a usable state of TableEncoder"):
        broken.load(tmp_path / "p.safetensors")


def test_an_old_feature_scaler_state_still_loads(tmp_path: Path) -> None:
    numbers = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    scaler = FeatureScaler()
    scaler.fit(numbers)
    scaler.save(tmp_path / "old.safetensors")
    encoder = TableEncoder()
    encoder.load(tmp_path / "old.safetensors")
    named = RawTable(numbers, ["age", "income"])  # the names the old state does not know
    assert torch.equal(encoder.encode(named), scaler.transform_batch({"features": numbers})["features"])
    gap = RawTable(torch.tensor([[NAN, 30.0]]), ["age", "income"])
    assert encoder.encode(gap)[0, 0].item() == 0.0  # filled with the mean
    fresh = TableEncoder()
    fresh.fit(named)
    assert encoder.state_dict().keys() == fresh.state_dict().keys()


def test_simple_nn_without_embeddings_is_unchanged() -> None:
    model = Model(SimpleNNConfig(input_dim=4, output_dim=2, hidden_dim=8))
    assert list(model.state_dict()) == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.3.weight",
        "layers.3.bias",
    ]
    no_embeddings = Model(SimpleNNConfig(input_dim=4, output_dim=2, hidden_dim=8, embedding_cardinalities=[]))
    assert list(no_embeddings.state_dict()) == list(model.state_dict())


def test_simple_nn_embeds_the_first_columns() -> None:
    config = SimpleNNConfig(input_dim=4, output_dim=3, hidden_dim=8, embedding_cardinalities=[5, 40])
    model = Model(config)
    assert model.embeddings[0].weight.shape == (5, 3) and model.embeddings[1].weight.shape == (40, 16)
    assert model.layers[0].in_features == 3 + 16 + 2
    x = torch.tensor([[4.0, 39.0, 0.5, -1.0], [0.0, 0.0, 0.0, 0.0]])
    assert model(x).shape == (2, 3)
    assert Model(config.model_copy(update={"embedding_dim": 4})).layers[0].in_features == 4 + 4 + 2
    with pytest.raises(IndexError):  # out of its vocabulary: torch's own error, no check per step
        model(torch.tensor([[1.0, 40.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="embedding_cardinalities but input_dim=1"):
        Model(SimpleNNConfig(input_dim=1, output_dim=2, embedding_cardinalities=[3, 3]))
