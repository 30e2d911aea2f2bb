"""FeatureScaler: the built-in plugins' preprocessor, and its safe (non-pickle) saved state."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest
import torch

from aiforge.data.scaling import FeatureScaler


@pytest.fixture
def features() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    scale, shift = torch.tensor([1.0, 5.0, 0.1]), torch.tensor([3.0, -2.0, 7.0])
    values = torch.randn(50, 3, generator=generator) * scale + shift
    values[:, 2] = 4.0  # a constant column
    return values


def fitted(features: torch.Tensor, scaler_type: str = "standard") -> FeatureScaler:
    scaler = FeatureScaler()
    scaler.fit(features, scaler_type=scaler_type)
    return scaler


def test_standard_scaling_gives_zero_mean_unit_std(features: torch.Tensor) -> None:
    out = fitted(features).transform({"features": features})["features"]
    assert torch.allclose(out.mean(dim=0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out[:, :2].std(dim=0, unbiased=False), torch.ones(2), atol=1e-5)


def test_minmax_scaling_maps_to_unit_range(features: torch.Tensor) -> None:
    out = fitted(features, "minmax").transform({"features": features})["features"]
    assert torch.allclose(out[:, :2].amin(dim=0), torch.zeros(2))
    assert torch.allclose(out[:, :2].amax(dim=0), torch.ones(2))


def test_none_scaling_is_the_identity(features: torch.Tensor) -> None:
    out = fitted(features, "none").transform({"features": features})["features"]
    assert torch.equal(out, features)


@pytest.mark.parametrize("scaler_type", ["standard", "minmax"])
def test_constant_column_is_finite(features: torch.Tensor, scaler_type: str) -> None:
    out = fitted(features, scaler_type).transform({"features": features})["features"]
    assert torch.isfinite(out).all()
    assert torch.equal(out[:, 2], torch.zeros(50))


def test_transform_returns_a_new_dict_and_leaves_input_unchanged(features: torch.Tensor) -> None:
    scaler = fitted(features)
    item = {"features": features[0].clone(), "labels": torch.tensor(1)}
    before = item["features"].clone()
    out = scaler.transform(item)
    assert out is not item
    assert torch.equal(item["features"], before)
    assert set(item) == {"features", "labels"}
    assert out["labels"] is item["labels"]
    assert not torch.equal(out["features"], before)


def test_transform_batch_equals_item_by_item(features: torch.Tensor) -> None:
    scaler = fitted(features)
    batch = scaler.transform_batch({"features": features, "labels": torch.arange(50)})
    items = torch.stack([scaler.transform({"features": row})["features"] for row in features])
    assert torch.allclose(batch["features"], items)
    assert torch.equal(batch["labels"], torch.arange(50))


@pytest.mark.parametrize("scaler_type", ["standard", "minmax", "none"])
def test_inverse_transform_round_trips(features: torch.Tensor, scaler_type: str) -> None:
    scaler = fitted(features, scaler_type)
    back = scaler.inverse_transform(scaler.transform({"features": features}))["features"]
    assert torch.allclose(back, features, atol=1e-5)


def test_bad_scaler_type_is_a_value_error(features: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="scaler_type must be standard, minmax or none, not 'robust'"):
        FeatureScaler().fit(features, scaler_type="robust")


def test_transform_before_fit_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureScaler().transform({"features": torch.ones(3)})


def test_fit_accepts_integer_features() -> None:
    scaler = FeatureScaler()
    scaler.fit(torch.tensor([[0, 2], [2, 4]]))
    assert scaler.shift.dtype == torch.float32
    assert scaler.shift.tolist() == [1.0, 3.0]


@pytest.mark.parametrize("scaler_type", ["standard", "minmax"])
def test_save_and_load_round_trip(features: torch.Tensor, tmp_path: Path, scaler_type: str) -> None:
    scaler = fitted(features, scaler_type)
    path = tmp_path / "scaler.safetensors"
    scaler.save(path)
    loaded = FeatureScaler()
    loaded.load(path)
    assert loaded.scaler_type == scaler_type
    assert torch.equal(loaded.shift, scaler.shift) and torch.equal(loaded.scale, scaler.scale)
    assert torch.equal(
        loaded.transform({"features": features})["features"],
        scaler.transform({"features": features})["features"],
    )
    assert [p.name for p in tmp_path.iterdir()] == ["scaler.safetensors"]  # no temporary file left


def test_saved_state_is_safetensors_not_pickle(features: torch.Tensor, tmp_path: Path) -> None:
    import json

    path = tmp_path / "scaler.safetensors"
    fitted(features).save(path)
    raw = path.read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])  # safetensors: u64 header length, then JSON
    header = json.loads(raw[8 : 8 + header_size])
    assert set(header) == {"__metadata__", "shift", "scale"}
    assert header["shift"]["dtype"] == "F32"
    assert json.loads(header["__metadata__"]["json"]) == {"scaler_type": "standard"}
    with pytest.raises(Exception):  # noqa: B017 - any unpickling failure will do
        pickle.loads(raw)


def test_transform_of_float64_input_returns_float32(features: torch.Tensor) -> None:
    # Regression: float64 input minus float32 state promoted the result to float64.
    scaler = fitted(features)
    expected = scaler.transform({"features": features})["features"]
    item = scaler.transform({"features": features[0].double()})
    assert item["features"].dtype == torch.float32
    assert torch.allclose(item["features"], expected[0], atol=1e-6)
    batch = scaler.transform_batch({"features": features.double(), "labels": torch.zeros(len(features))})
    assert batch["features"].dtype == torch.float32
    assert torch.allclose(batch["features"], expected, atol=1e-6)
