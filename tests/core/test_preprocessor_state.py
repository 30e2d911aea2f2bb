"""A saved preprocessor state is data: it is checked against what the preprocessor declares.

Regression: every key of ``preprocessor.safetensors`` was set with ``setattr``, so
``{"transform": 3}`` replaced a method and predict failed with "'int' object is not callable"
(exit 1), and a wrong-size or float64 tensor failed later without naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from aiforge.core.data_pipeline import BasePreprocessor, Item
from aiforge.core.preprocessing import FeatureScaler
from aiforge.errors import DataError


def _write(path: Path, tensors: dict[str, torch.Tensor], others: Any) -> Path:
    save_file(tensors, str(path), metadata={"json": json.dumps(others), "class": "FeatureScaler"})
    return path


def _scaler_file(path: Path, **changes: Any) -> Path:
    """A fitted FeatureScaler's file, with tensors or JSON values replaced by ``changes``."""
    scaler = FeatureScaler()
    scaler.fit(torch.arange(12, dtype=torch.float32).reshape(3, 4) ** 1.5)
    tensors, metadata = scaler.serialisable_state()
    others = json.loads(metadata["json"])
    for key, value in changes.items():
        if isinstance(value, torch.Tensor):
            tensors[key] = value
        else:
            others[key] = value
    return _write(path / "preprocessor.safetensors", tensors, others)


def test_a_saved_scaler_loads_back(tmp_path: Path) -> None:
    path = _scaler_file(tmp_path)
    scaler = FeatureScaler()
    scaler.load(path)
    assert scaler.scale is not None and scaler.scale.shape == (4,) and scaler.scaler_type == "standard"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"transform": 3}, r"'transform'.*method"),
        ({"fit": "x"}, r"'fit'.*method"),
        ({"scaler_type": 3}, r"'scaler_type'.*a number.*a string"),
        ({"scaler_type": "cubic"}, r"scaler_type"),
        ({"scale": torch.ones(3)}, r"'shift' and 'scale'.*shape"),
        ({"scale": torch.ones(4, dtype=torch.float64)}, r"'scale'.*float32.*float64"),
        ({"scale": torch.tensor([1.0, float("nan"), 1.0, 1.0])}, r"'scale'.*not finite"),
        ({"scale": torch.tensor([1.0, 0.0, 1.0, 1.0])}, r"'scale'.*positive"),
        ({"shift": torch.tensor([1.0, float("inf"), 1.0, 1.0])}, r"'shift'.*not finite"),
    ],
)
def test_a_bad_state_is_a_data_error_naming_the_file(tmp_path: Path, changes: dict, message: str) -> None:
    path = _scaler_file(tmp_path, **changes)
    scaler = FeatureScaler()
    with pytest.raises(DataError, match=message) as caught:
        scaler.load(path)
    assert str(path) in str(caught.value)
    assert callable(scaler.transform) and callable(scaler.fit)


def test_metadata_that_is_not_a_mapping_is_a_data_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.safetensors", {"scale": torch.ones(2)}, [1, 2])
    with pytest.raises(DataError, match=r"p\.safetensors.*JSON object"):
        FeatureScaler().load(path)


def test_a_missing_fitted_tensor_is_a_data_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.safetensors", {"shift": torch.zeros(2)}, {"scaler_type": "standard"})
    with pytest.raises(DataError, match=r"missing key 'scale'"):
        FeatureScaler().load(path)


class FittedOnly(BasePreprocessor):
    """Declares nothing in __init__ (as many user preprocessors do): its keys come from fit."""

    def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
        self.mean = features.mean(dim=0)
        self.columns = ["a", "b"]

    def transform(self, data_item: Item) -> Item:
        return {**data_item, "features": data_item["features"] - self.mean}


def test_a_preprocessor_that_declares_nothing_still_loads(tmp_path: Path) -> None:
    fitted = FittedOnly()
    fitted.fit(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    fitted.save(tmp_path / "p.safetensors")
    loaded = FittedOnly()
    loaded.load(tmp_path / "p.safetensors")
    assert torch.equal(loaded.mean, fitted.mean) and loaded.columns == ["a", "b"]


def test_a_preprocessor_that_declares_nothing_still_refuses_method_names(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.safetensors", {"mean": torch.zeros(2)}, {"transform_batch": 1})
    with pytest.raises(DataError, match=r"'transform_batch'.*method"):
        FittedOnly().load(path)


def test_private_or_odd_key_names_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.safetensors", {"mean": torch.zeros(2)}, {"__class__": 1})
    with pytest.raises(DataError, match=r"'__class__'"):
        FittedOnly().load(path)


class DeclaresSome(BasePreprocessor):
    """Declares a setting in __init__ and adds its fitted state in fit (the README allows both)."""

    def __init__(self) -> None:
        self.clip = 3.0

    def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
        self.mean = features.mean(dim=0)

    def transform(self, data_item: Item) -> Item:
        return {**data_item, "features": (data_item["features"] - self.mean).clamp(-self.clip, self.clip)}


def test_state_that_fit_adds_beside_declared_settings_loads(tmp_path: Path) -> None:
    fitted = DeclaresSome()
    fitted.fit(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    fitted.save(tmp_path / "p.safetensors")
    loaded = DeclaresSome()
    loaded.load(tmp_path / "p.safetensors")
    assert torch.equal(loaded.mean, fitted.mean) and loaded.clip == 3.0


def test_keys_the_refitted_preprocessor_lacks_are_reported() -> None:
    from aiforge.core.preprocessor_state import reference_problems

    fitted = {"shift": torch.zeros(4), "scale": torch.ones(4), "scaler_type": "standard"}
    saved = {**fitted, "bogus": 1}
    assert any("bogus" in problem for problem in reference_problems(saved, fitted))
    assert reference_problems(fitted, fitted) == []
