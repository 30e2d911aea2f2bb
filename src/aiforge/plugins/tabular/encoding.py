"""Encode a RawTable (numbers with gaps, category text) as one float32 tensor for a model.

Everything is learnt from the training rows only: imputation values, which columns get a
missing-indicator, the scaling, and each category column's vocabulary. The state is tensors and
JSON (no pickle), and ``load_state_dict`` checks it, since a run folder is data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from aiforge.core.data_pipeline import BasePreprocessor, Item
from aiforge.data.scaling import FeatureScaler
from aiforge.errors import ArgumentError
from aiforge.plugins.tabular.columns import MISSING_LEVEL, RawTable
from aiforge.runtime.log import logger

IMPUTE = ("mean", "median")
INDICATORS = ("auto", "always", "never")
SCALERS = ("standard", "minmax", "none")
UNKNOWN = 0  # index of the bucket of levels not seen in the training rows


class TableEncoder(BasePreprocessor):
    """Numbers imputed, flagged and scaled; categories one-hot or as embedding indices.

    ``preprocess_args``:

    - ``scaler_type``: ``standard`` (default), ``minmax`` or ``none``, for number columns (as
      :class:`~aiforge.data.scaling.FeatureScaler` scales them).
    - ``impute``: fill a gap in a number column with the training ``mean`` (default) or ``median``.
    - ``missing_indicators``: ``auto`` (default: a 0/1 column for each number column that had
      gaps in the training rows), ``always`` or ``never``.
    - ``max_onehot_levels``: a category with at most this many levels (default 10) is one-hot
      encoded; one with more becomes one embedding-index column for the model to embed.

    Output columns, in order: embedding indices (whole numbers as floats; 0 is the unknown
    bucket), scaled numbers, missing indicators, one-hot blocks (unknown first, then the sorted
    levels). A gap in a category column is its own level, ``(missing)``.
    """

    def __init__(self) -> None:
        self.scaler_type = "standard"
        self.impute = "mean"
        self.missing_indicators = "auto"
        self.max_onehot_levels = 10
        self.number_names: list[str] = []
        self.indicator_columns: list[int] = []
        self.category_names: list[str] = []
        self.vocabularies: list[list[str]] = []
        self.embedded: list[bool] = []
        self.fill: torch.Tensor | None = None
        self.shift: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None
        self._positional = False  # loaded from a FeatureScaler state: columns by position

    def fit(
        self,
        features: Any,
        scaler_type: str = "standard",
        impute: str = "mean",
        missing_indicators: str = "auto",
        max_onehot_levels: int = 10,
    ) -> None:
        _check_choice("scaler_type", scaler_type, SCALERS)
        _check_choice("impute", impute, IMPUTE)
        _check_choice("missing_indicators", missing_indicators, INDICATORS)
        if (
            isinstance(max_onehot_levels, bool)
            or not isinstance(max_onehot_levels, int)
            or max_onehot_levels < 0
        ):
            raise ArgumentError(f"max_onehot_levels must be a whole number >= 0, not {max_onehot_levels!r}")
        table = as_raw_table(features)
        self.scaler_type, self.impute = scaler_type, impute
        self.missing_indicators, self.max_onehot_levels = missing_indicators, max_onehot_levels
        numbers = table.numbers.to(torch.float32)
        gaps = torch.isnan(numbers)
        if impute == "mean":
            fill = torch.nanmean(numbers, dim=0)
        else:
            fill = torch.nanmedian(numbers, dim=0).values if len(numbers) else torch.zeros(numbers.shape[1])
        self.fill = torch.nan_to_num(fill, nan=0.0)  # a column with no values at all: 0
        self.number_names = list(table.number_names)
        had_gaps = gaps.any(dim=0).tolist()
        self.indicator_columns = [
            j
            for j in range(len(self.number_names))
            if missing_indicators == "always" or (missing_indicators == "auto" and had_gaps[j])
        ]
        if self.number_names:
            scaler = FeatureScaler()
            scaler.fit(torch.where(gaps, self.fill, numbers), scaler_type=scaler_type)  # type: ignore[arg-type]
            self.shift, self.scale = scaler.shift, scaler.scale
        else:  # no number column: nothing to scale (torch warns on the std of an empty matrix)
            self.shift, self.scale = torch.zeros(0), torch.ones(0)
        self.category_names = list(table.category_names)
        self.vocabularies = []
        for values in table.categories:
            levels = {MISSING_LEVEL if v is None else str(v) for v in values}
            self.vocabularies.append(sorted(levels | {MISSING_LEVEL}))
        self.embedded = [len(vocab) - 1 > max_onehot_levels for vocab in self.vocabularies]

    def model_dims(self) -> dict[str, Any]:
        """The vocabulary sizes (with the unknown bucket) of the embedded columns, for the model."""
        sizes = [len(v) + 1 for v, embed in zip(self.vocabularies, self.embedded, strict=True) if embed]
        return {"embedding_cardinalities": sizes} if sizes else {}

    def output_names(self) -> list[str]:
        """The names of the output tensor's columns, in order."""
        pairs = list(zip(self.category_names, self.vocabularies, self.embedded, strict=True))
        names = [name for name, _, embed in pairs if embed]
        names += self.number_names
        names += [f"{self.number_names[j]}.missing" for j in self.indicator_columns]
        for name, vocab, embed in pairs:
            if not embed:
                names += [f"{name}=(unknown)", *(f"{name}={level}" for level in vocab)]
        return names

    def transform_batch(self, batch: Item) -> Item:
        return {**batch, "features": self.encode(batch["features"])}

    def transform(self, data_item: Item) -> Item:
        features = data_item["features"]
        single = isinstance(features, torch.Tensor) and features.dim() == 1
        encoded = self.encode(features.reshape(1, -1) if single else features)
        return {**data_item, "features": encoded[0] if single else encoded}

    def encode(self, features: Any) -> torch.Tensor:
        """The float32 tensor of a RawTable (or a numbers-only tensor); unseen levels get one warning."""
        if self.fill is None or self.shift is None or self.scale is None:
            raise RuntimeError("TableEncoder is not fitted: call fit() or load() first")
        table = as_raw_table(features, self.number_names if not self.category_names else None)
        if self._positional and not table.categories and len(table.number_names) == len(self.number_names):
            table = RawTable(table.numbers, self.number_names)  # an old state knows no column names
        if table.number_names != self.number_names or table.category_names != self.category_names:
            raise ValueError(
                f"the rows have number columns {table.number_names} and category columns "
                f"{table.category_names}; the encoder was fitted on {self.number_names} and "
                f"{self.category_names}"
            )
        numbers = table.numbers.to(torch.float32)
        gaps = torch.isnan(numbers)
        scaled = (torch.where(gaps, self.fill, numbers) - self.shift) / self.scale
        embedded, onehots, unseen = [], [], []
        for name, values, vocab, embed in zip(
            self.category_names, table.categories, self.vocabularies, self.embedded, strict=True
        ):
            codes, misses, example = _codes(values, vocab)
            if misses:
                unseen.append(f"{name!r}: {misses} row(s), e.g. {example!r}")
            if embed:
                embedded.append(codes.to(torch.float32).reshape(-1, 1))
            else:
                onehots.append(torch.nn.functional.one_hot(codes, len(vocab) + 1).to(torch.float32))
        if unseen:
            logger.warning(
                f"tabular: category levels not seen in the training rows were mapped to the unknown "
                f"bucket: {'; '.join(unseen)}"
            )
        indicators = gaps[:, self.indicator_columns].to(torch.float32)
        return torch.cat([*embedded, scaled, indicators, *onehots], dim=1)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A saved state; a ValueError says what in it this encoder cannot use.

        The state of a run trained before tables had column kinds (a FeatureScaler's
        ``scaler_type``, ``shift``, ``scale`` of a numbers-only table without gaps) is read as the
        same scaling; a gap at predict time is then filled with the value scaled to the centre.
        """
        if set(state) == {"scaler_type", "shift", "scale"}:
            state = _from_feature_scaler(state)
            self._positional = True
        super().load_state_dict(state)
        _check_choice("scaler_type", self.scaler_type, SCALERS, ValueError)
        _check_choice("impute", self.impute, IMPUTE, ValueError)
        _check_choice("missing_indicators", self.missing_indicators, INDICATORS, ValueError)
        if isinstance(self.max_onehot_levels, bool) or not isinstance(self.max_onehot_levels, int):
            raise ValueError(f"'max_onehot_levels' must be a whole number, not {self.max_onehot_levels!r}")
        for key in ("number_names", "category_names"):
            if not _list_of(getattr(self, key), str):
                raise ValueError(f"{key!r} must be a list of column names")
        count = len(self.number_names)
        if not _list_of(self.indicator_columns, int) or any(
            not 0 <= j < count for j in self.indicator_columns
        ):
            raise ValueError(f"'indicator_columns' must list positions 0..{count - 1} of the number columns")
        if not isinstance(self.vocabularies, list) or len(self.vocabularies) != len(self.category_names):
            raise ValueError("'vocabularies' must hold one list of levels per category column")
        for vocab in self.vocabularies:
            if not _list_of(vocab, str) or vocab != sorted(set(vocab)) or MISSING_LEVEL not in vocab:
                raise ValueError(f"a vocabulary must be sorted distinct texts with {MISSING_LEVEL!r}")
        if not _list_of(self.embedded, bool) or len(self.embedded) != len(self.category_names):
            raise ValueError("'embedded' must hold true or false per category column")
        for key in ("fill", "shift", "scale"):
            value = getattr(self, key)
            if not isinstance(value, torch.Tensor) or value.dtype != torch.float32 or value.shape != (count,):
                raise ValueError(f"{key!r} must be a float32 tensor of {count} values")
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{key!r} holds values that are not finite (NaN or infinity)")
        assert self.scale is not None
        if not bool((self.scale > 0).all()):
            raise ValueError("'scale' must be positive")


def _from_feature_scaler(state: dict[str, Any]) -> dict[str, Any]:
    """An old FeatureScaler state as this encoder's (numbers only, no gaps seen in training)."""
    shift, scale = state["shift"], state["scale"]
    if not isinstance(shift, torch.Tensor) or not isinstance(scale, torch.Tensor) or shift.dim() != 1:
        raise ValueError("'shift' and 'scale' must be tensors of one value per column")
    centre = {"standard": shift, "minmax": shift + scale / 2}.get(
        state["scaler_type"], torch.zeros_like(shift)
    )
    return {
        **state,
        "number_names": [f"f{i}" for i in range(len(shift))],
        "fill": centre.clone(),
    }


def as_raw_table(features: Any, names: list[str] | None = None) -> RawTable:
    """A RawTable as it is; a numbers-only tensor (another dataset's, or an exported model's
    input) as a RawTable of its columns, named ``names`` when they are as many, else f0, f1, ..."""
    if isinstance(features, RawTable):
        return features
    if isinstance(features, torch.Tensor):
        numbers = features.to(torch.float32)
        # No reshape to len(features): a traced (exported) model would keep that batch size.
        numbers = numbers.flatten(start_dim=1) if numbers.dim() >= 2 else numbers.unsqueeze(1)
        width = numbers.shape[1]
        named = names if names is not None and len(names) == width else [f"f{i}" for i in range(width)]
        return RawTable(numbers, named)
    raise TypeError(f"the tabular encoder takes a RawTable or a tensor, not {type(features).__name__}")


def _codes(values: np.ndarray, vocab: list[str]) -> tuple[torch.Tensor, int, str | None]:
    """Each cell's index (1 + its place in ``vocab``, 0 if unseen), how many were unseen, and one of them."""
    series = pd.Series(values, dtype=object).where(pd.notna(pd.Series(values, dtype=object)), MISSING_LEVEL)
    index = {level: i + 1 for i, level in enumerate(vocab)}
    mapped = series.astype(str).map(index)
    unseen = mapped.isna().to_numpy()
    codes = mapped.fillna(UNKNOWN).to_numpy(dtype=np.int64)
    example = str(series[unseen].iloc[0]) if unseen.any() else None
    return torch.from_numpy(np.array(codes)), int(unseen.sum()), example


def _check_choice(
    key: str, value: object, choices: tuple[str, ...], error: type[Exception] = ArgumentError
) -> None:
    if isinstance(value, bool):  # YAML reads yes/no/on/off as true/false
        raise error(
            f"{key} must be {', '.join(choices[:-1])} or {choices[-1]}, not {value!r}: YAML reads "
            f"yes/no (and on/off) as true/false; write one of the words, quoted if needed "
            f'({key}: "{choices[0]}")'
        )
    if value not in choices:
        raise error(f"{key} must be {', '.join(choices[:-1])} or {choices[-1]}, not {value!r}")


def _list_of(value: object, kind: type) -> bool:
    if not isinstance(value, list):
        return False
    if kind is int:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    return all(isinstance(v, kind) for v in value)


__all__ = ["TableEncoder", "as_raw_table"]
