"""Settings of the ``torchvision_model`` plugin: which architecture, and which weights (never downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PositiveInt, field_validator, model_validator

from aiforge.config.model_configs import MAX_WIDTH
from aiforge.config.model_section import ModelSpecificConfig


class TorchvisionModelConfig(ModelSpecificConfig):
    """A torchvision classification architecture, built without weights or from a local state dict."""

    name: str = Field(
        "resnet18", description="A torchvision classification model, e.g. resnet18, mobilenet_v3_small."
    )
    in_channels: PositiveInt | None = Field(
        None, le=MAX_WIDTH, description="Image channels (default: from the data); 1 is repeated to 3."
    )
    output_dim: PositiveInt | None = Field(
        None, le=MAX_WIDTH, description="Number of classes (default: from the data)."
    )
    weights_file: str | None = Field(
        None,
        description="A local state dict (.pth) to start from, e.g. torchvision's pretrained file; a "
        "classifier head for another number of classes is replaced. Relative paths: from the working folder.",
    )
    weights: str | None = Field(
        None, description="Not supported (it would download): use weights_file with a local copy."
    )
    model_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for the model builder, e.g. {dropout: 0.3}.",
    )

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        from aiforge.errors import did_you_mean
        from aiforge.plugins.torchvision_model.building import classification_models

        known = classification_models()
        if name not in known:
            raise ValueError(
                f"unknown torchvision classification model {name!r}{did_you_mean(name, known)}; "
                f"known: {', '.join(known)}"
            )
        return name

    @field_validator("weights")
    @classmethod
    def _no_download(cls, weights: str | None) -> str | None:
        if weights is None:
            return None
        raise ValueError(
            f"weights {weights!r} would be downloaded from the internet, and AIForge never downloads. "
            "Leave weights out (random initial weights), or get the file once on a machine that is "
            "online, e.g. python -c \"import torchvision; torchvision.models.get_model('resnet18', "
            "weights='DEFAULT')\" (it is saved under ~/.cache/torch/hub/checkpoints/), and set "
            "model_config.weights_file to that .pth file"
        )

    @model_validator(mode="after")
    def _builder_takes_model_args(self) -> TorchvisionModelConfig:
        """Keys of model_args the builder does not take are refused now, not as a TypeError in the run."""
        from aiforge.plugins.torchvision_model.building import check_model_args

        check_model_args(self.name, self.model_args)  # an ArgumentError: a ValueError pydantic reports
        return self

    @field_validator("weights_file")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        """Made absolute when the config is read, so the run folder's config names the same file."""
        return None if path is None else str(Path(path).expanduser().absolute())
