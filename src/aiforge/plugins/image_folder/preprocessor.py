"""Images to model inputs: uint8 pixels scaled to [0, 1] and normalised per channel; training
batches optionally augmented first (torchvision transforms v2 named in the config)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from aiforge.core.data_pipeline import BasePreprocessor, Item
from aiforge.errors import ArgumentError, DataError
from aiforge.plugins.image_folder.augment import apply_per_image, build, check_on, normalised_spec

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
NORMALIZE = ("auto", "imagenet", "none")
_CHUNK = 1024  # images per step of the statistics: bounded float memory for large splits
_AUGMENT_TRIAL = 4  # training images the augment pipeline is tried on at fit time


class Preprocessor(BasePreprocessor):
    """Per-channel normalisation of uint8 images ``[N, C, H, W]``, fitted on the training rows.

    ``preprocess_args``:

    - ``normalize``: ``auto`` (default): the training images' per-channel mean and standard
      deviation of the pixels scaled to [0, 1]; ``imagenet``: ImageNet's (for pretrained
      backbones); ``none``: pixels only scaled to [0, 1].
    - ``mean``, ``std``: lists, one value per channel (or one for all), used instead of
      ``normalize``'s statistics (e.g. a pretrained model's own).
    - ``augment``: torchvision transforms v2 applied to each training image on its own, before
      scaling (see ``augment.py``); validation, test and predict images are never augmented.
    """

    # Images read from disk per batch (not cached): the statistics come from this many training
    # images, a random sample, instead of all of them held at once.
    fit_sample_size = 2000

    def __init__(self) -> None:
        self.normalize = "auto"
        self.mean = torch.zeros(0)
        self.std = torch.ones(0)
        self.augment: list[dict[str, dict[str, Any]]] = []
        self._pipeline: Any = None

    def fit(
        self,
        features: torch.Tensor,
        normalize: str = "auto",
        mean: Sequence[float] | float | None = None,
        std: Sequence[float] | float | None = None,
        augment: list[Any] | None = None,
    ) -> None:
        images = _images(features)
        channels = images.shape[1]
        if normalize not in NORMALIZE:
            raise ArgumentError(f"normalize must be one of {', '.join(NORMALIZE)}, not {normalize!r}")
        if (mean is None) != (std is None):
            raise ArgumentError("preprocess_args: give mean and std together (one value per channel each)")
        if mean is not None and normalize == "none":
            raise ArgumentError(
                "preprocess_args: normalize: none and mean/std contradict each other; drop one"
            )
        if mean is not None and normalize == "imagenet":
            raise ArgumentError(
                "preprocess_args: normalize: imagenet and mean/std both set the statistics; give one "
                "of them (normalize: imagenet, or your own mean and std)"
            )
        self.augment = normalised_spec(augment)
        self._pipeline = build(self.augment) if self.augment else None  # fail now, not in training
        if self._pipeline is not None and len(images):
            check_on(self.augment, self._pipeline, _as_pixels(images[:_AUGMENT_TRIAL]))
        if mean is not None and std is not None:
            self.normalize = "given"
            self.mean, self.std = _per_channel("mean", mean, channels), _per_channel("std", std, channels)
        elif normalize == "imagenet":
            self.normalize = normalize
            self.mean = _per_channel("mean", IMAGENET_MEAN, channels, "normalize: imagenet")
            self.std = _per_channel("std", IMAGENET_STD, channels, "normalize: imagenet")
        elif normalize == "none":
            self.normalize = normalize
            self.mean, self.std = torch.zeros(channels), torch.ones(channels)
        else:
            self.normalize = normalize
            self.mean, self.std = _statistics(images)
        if not bool((self.std > 0).all()):
            raise ArgumentError(f"preprocess_args.std must be positive, not {self.std.tolist()}")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A saved state; a ValueError says what in it cannot be used."""
        super().load_state_dict(state)
        if self.normalize not in (*NORMALIZE, "given"):
            raise ValueError(
                f"normalize must be one of {', '.join(NORMALIZE)} or given, not {self.normalize!r}"
            )
        for key in ("mean", "std"):
            value = getattr(self, key)
            if not isinstance(value, torch.Tensor) or value.dtype != torch.float32 or value.dim() != 1:
                raise ValueError(f"{key!r} must be a 1-dimensional float32 tensor")
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{key!r} holds values that are not finite")
        if self.mean.numel() == 0:
            raise ValueError("'mean' and 'std' are empty: the state was never fitted")
        if self.mean.shape != self.std.shape or not bool((self.std > 0).all()):
            raise ValueError("'mean' and 'std' must have one value per channel each, std positive")
        self.augment = normalised_spec(self.augment, "the saved augment")
        self._pipeline = None

    @property
    def augments(self) -> bool:
        """Whether training batches are augmented (no ``augment`` given: they keep the fast path)."""
        return bool(self.augment)

    def augment_batch(self, batch: Item) -> Item:
        """A training batch, each uint8 image augmented on its own (the global torch RNG)."""
        if not self.augment:
            return batch
        if self._pipeline is None:  # a loaded state, or a copy in a DataLoader worker
            self._pipeline = build(self.augment)
        return {**batch, "features": apply_per_image(self._pipeline, _images(batch["features"], 4))}

    def transform(self, data_item: Item) -> Item:
        return self.transform_batch(data_item)  # broadcasting makes the batch form work on one image

    def transform_batch(self, batch: Item) -> Item:
        """uint8 pixels to float32 in [0, 1], then ``(x - mean) / std`` per channel."""
        if self.mean.numel() == 0:
            raise RuntimeError("the image Preprocessor is not fitted: call fit() or load() first")
        pixels = _images(batch["features"], None)
        if pixels.shape[-3] != len(self.mean):
            raise DataError(
                f"images have {pixels.shape[-3]} channels, but the preprocessor was fitted "
                f"on {len(self.mean)}"
            )
        scaled = pixels.to(torch.float32) / 255.0  # a new tensor: float input is never changed
        shape = (-1, 1, 1)
        return {**batch, "features": scaled.sub_(self.mean.view(shape)).div_(self.std.view(shape))}

    def inverse_transform(self, data_item: Item) -> Item:
        """Normalised images back to pixels in [0, 1] (float)."""
        shape = (-1, 1, 1)
        return {**data_item, "features": data_item["features"] * self.std.view(shape) + self.mean.view(shape)}


def _images(features: Any, dims: int | None = 4) -> torch.Tensor:
    """``features`` checked to be images ``[N, C, H, W]`` (or ``[C, H, W]`` when ``dims`` is None):
    uint8, or floating-point pixel values 0-255 (what an exported model takes)."""
    if not isinstance(features, torch.Tensor) or not (
        features.dtype == torch.uint8 or features.is_floating_point()
    ):
        found = features.dtype if isinstance(features, torch.Tensor) else type(features).__name__
        raise DataError(
            f"the image Preprocessor takes image tensors (uint8, or float pixel values 0-255), not {found}"
        )
    if (dims is not None and features.dim() != dims) or features.dim() not in (3, 4):
        raise DataError(f"the image Preprocessor takes images [N, C, H, W], not shape {list(features.shape)}")
    return features


def _as_pixels(images: torch.Tensor) -> torch.Tensor:
    """``images`` as uint8 pixels, what ``augment_batch`` gets (float pixel values 0-255 rounded)."""
    if images.dtype == torch.uint8:
        return images
    return images.round().clamp(0, 255).to(torch.uint8)


def _per_channel(key: str, values: Any, channels: int, source: str | None = None) -> torch.Tensor:
    """``values`` (one per channel, or one for all) as a float32 tensor of ``channels`` values."""
    listed = [values] if isinstance(values, int | float) and not isinstance(values, bool) else values
    where = source or f"preprocess_args.{key}"
    ok = isinstance(listed, list | tuple) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in listed
    )
    if not ok or len(listed) not in (1, channels):
        raise ArgumentError(
            f"{where} must be one number or {channels} (one per channel of these images), not {values!r}"
            + (" (for grayscale images give one value, or color_mode: rgb)" if channels == 1 else "")
        )
    return torch.tensor([float(v) for v in listed], dtype=torch.float32).expand(channels).clone()


def _statistics(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) standard deviation of the pixels scaled to [0, 1]."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].to(torch.float64) / 255.0
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = max(1, images.numel() // channels)
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # a constant channel is only centred
    return mean.to(torch.float32), std.to(torch.float32)
