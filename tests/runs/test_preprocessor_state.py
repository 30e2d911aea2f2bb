"""A saved preprocessor state is data: the keys the base ``load_state_dict`` sets are checked.

Regression: every key of ``preprocessor.safetensors`` was set with ``setattr``, so
``{"transform": 3}`` replaced a method and predict failed with "'int' object is not callable"
(exit 1), and a wrong-size or float64 tensor failed later without naming the file. And the
other way: the first check refused ordinary plugins' own files (a number default that ``fit``
makes a tensor, a state_dict override with ``_mean``), so their runs could not be evaluated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from aiforge.core.data_pipeline import BasePreprocessor, Item
from aiforge.data.scaling import FeatureScaler
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
        ({"scaler_type": 3}, r"scaler_type must be standard, minmax or none, not 3"),
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
    with pytest.raises(DataError, match=r"'scale' must be a float32 tensor, not None"):
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
    from aiforge.runs.preprocessor_state import reference_problems

    fitted = {"shift": torch.zeros(4), "scale": torch.ones(4), "scaler_type": "standard"}
    saved = {**fitted, "bogus": 1}
    assert any("bogus" in problem for problem in reference_problems(saved, fitted))
    assert reference_problems(fitted, fitted) == []


# -- plugins' own files load back -------------------------------------------------------------------
def _round_trip(fitted: BasePreprocessor, path: Path) -> BasePreprocessor:
    """Saved, loaded into a fresh instance, and in the form of the fitted one (what predict checks)."""
    from aiforge.runs.preprocessor_state import reference_problems

    fitted.save(path)
    loaded = type(fitted)()
    loaded.load(path)
    assert reference_problems(loaded.state_dict(), fitted.state_dict()) == []
    return loaded


class NumberDefaults(BasePreprocessor):
    """The README's pattern: settings that start as numbers in __init__, replaced by tensors in fit."""

    def __init__(self) -> None:
        self.mean = 0.0
        self.std = 1.0

    def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
        self.mean = features.mean(dim=0)
        self.std = features.std(dim=0)

    def transform(self, data_item: Item) -> Item:
        return {**data_item, "features": (data_item["features"] - self.mean) / self.std}


def test_number_defaults_that_fit_makes_tensors_load_back(tmp_path: Path) -> None:
    # Regression: "key 'mean' is a tensor, but NumberDefaults keeps a number there".
    fitted = NumberDefaults()
    fitted.fit(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    loaded = _round_trip(fitted, tmp_path / "p.safetensors")
    assert torch.equal(loaded.mean, fitted.mean) and torch.equal(loaded.std, fitted.std)


class EmptyDefaults(BasePreprocessor):
    """Empty containers in __init__ that fit replaces by tensors or other JSON values."""

    def __init__(self) -> None:
        self.means: dict[str, Any] | torch.Tensor = {}
        self.columns: list[str] | dict[str, int] = []

    def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
        self.means = features.mean(dim=0)
        self.columns = {"a": 0, "b": 1}

    def transform(self, data_item: Item) -> Item:
        return data_item


def test_empty_container_defaults_that_fit_replaces_load_back(tmp_path: Path) -> None:
    fitted = EmptyDefaults()
    fitted.fit(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    loaded = _round_trip(fitted, tmp_path / "p.safetensors")
    assert torch.equal(loaded.means, fitted.means) and loaded.columns == {"a": 0, "b": 1}


class OwnState(BasePreprocessor):
    """Overrides state_dict/load_state_dict (as the base class invites) with a private key, and
    its state_dict assumes it was fitted."""

    def __init__(self) -> None:
        self.columns: list[str] | None = None  # declared None, and not part of the saved state

    def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
        self._mean = features.mean(dim=0)

    def transform(self, data_item: Item) -> Item:
        return {**data_item, "features": data_item["features"] - self._mean}

    def state_dict(self) -> dict[str, Any]:
        return {"_mean": self._mean}  # AttributeError before fit

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._mean = state["_mean"]


def test_own_state_dict_with_a_private_key_loads_back(tmp_path: Path) -> None:
    # Regression: "key '_mean' is not a public attribute name", and state_dict() was called on
    # the unfitted instance first (AttributeError), and 'columns' (declared None) was "missing".
    fitted = OwnState()
    fitted.fit(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    loaded = _round_trip(fitted, tmp_path / "p.safetensors")
    assert torch.equal(loaded._mean, fitted._mean) and loaded.columns is None


def test_the_base_load_state_dict_refuses_keys_it_would_set_badly() -> None:
    preprocessor = FittedOnly()
    with pytest.raises(ValueError, match=r"'transform'.*method.*'_x'.*public"):
        preprocessor.load_state_dict({"mean": torch.zeros(2), "transform": 3, "_x": 1})
    assert callable(preprocessor.transform) and not hasattr(preprocessor, "mean")  # nothing set


# -- the same files at --resume ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes",
    [{"transform": 3}, {"__class__": 1}, {"scale": torch.ones(3)}, {"scaler_type": 3}, {"bogus": 1}],
)
def test_resume_refuses_an_odd_preprocessor_file(tmp_path: Path, changes: dict) -> None:
    from aiforge.runs.resume import check_same_preprocessor

    path = _scaler_file(tmp_path, **changes)
    refitted = FeatureScaler()
    refitted.fit(torch.arange(12, dtype=torch.float32).reshape(3, 4) ** 1.5)
    with pytest.raises(DataError, match=r"preprocessor"):  # DataError: exit 2
        check_same_preprocessor(path, refitted)


def test_resume_refuses_a_damaged_preprocessor_file(tmp_path: Path) -> None:
    from aiforge.runs.resume import check_same_preprocessor

    path = _scaler_file(tmp_path)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match=r"cannot load the saved preprocessor"):
        check_same_preprocessor(path, FeatureScaler())


def test_resume_accepts_a_plugins_own_file(tmp_path: Path) -> None:
    from aiforge.runs.resume import check_same_preprocessor

    features = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    for preprocessor in (NumberDefaults(), OwnState()):
        preprocessor.fit(features)
        preprocessor.save(tmp_path / "p.safetensors")
        refitted = type(preprocessor)()
        refitted.fit(features.clone())
        check_same_preprocessor(tmp_path / "p.safetensors", refitted)


def test_a_key_stored_as_tensor_and_json_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.safetensors", {"mean": torch.zeros(2)}, {"mean": 1})
    with pytest.raises(DataError, match=r"p\.safetensors.*\['mean'\] are stored twice"):
        FittedOnly().load(path)
