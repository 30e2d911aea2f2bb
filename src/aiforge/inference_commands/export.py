"""``aiforge export``: the inference model (preprocessing included) as TorchScript or ONNX.

The exported model takes raw features, ``float32`` of shape ``[batch, num_features]`` in the
order of ``feature_names`` (stored beside the model), and returns class probabilities
(classification) or predictions (regression). Before the file is put in place it is loaded
back and checked against the eager model on sample rows; a model that does not match is
never written.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from aiforge.errors import ConfigError, PluginError, did_you_mean
from aiforge.inference_commands.loading import LoadedRun

FORMATS = {"torchscript": "inference_model.torchscript.pt", "onnx": "inference_model.onnx"}
RTOL, ATOL = 1e-4, 1e-5
METADATA_NAME = "aiforge.json"  # TorchScript extra file / ONNX metadata key


def check_format(fmt: str) -> None:
    """An unknown format, or ONNX without its packages, fails before the run is loaded."""
    if fmt not in FORMATS:
        raise ConfigError(
            f"unknown export format {fmt!r}{did_you_mean(fmt, FORMATS)}; use torchscript or onnx"
        )
    if fmt == "onnx":
        _onnx_modules()


def _onnx_modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ConfigError(
            f"ONNX export needs the onnx and onnxruntime packages ({err}): pip install onnx onnxruntime"
        ) from None
    return onnx, onnxruntime


def output_path(loaded: LoadedRun, fmt: str, output: str | Path | None, overwrite: bool = False) -> Path:
    """Without ``output``, the format's file in the run folder (AIForge's own name there, replaced
    by the next export); else :func:`check_output`."""
    if output is None:
        return loaded.run_dir / FORMATS[fmt]
    return check_output(output, fmt, overwrite)


def check_output(output: str | Path, fmt: str, overwrite: bool = False) -> Path:
    """A given ``--output`` (a file, or a folder for the format's file name), checked like every
    command's output: not in a run folder, an existing file only with ``overwrite``."""
    from aiforge.inference_commands.outputs import check_output_path

    path = Path(output)
    if path.is_dir():
        path = path / FORMATS[fmt]
    return check_output_path(path, overwrite=overwrite)


def sample_inputs(loaded: LoadedRun) -> list[Any]:
    """Raw validation rows, flattened as a table would hand them over, in two batch sizes.

    Two sizes, so that a batch size baked into the exported graph is caught.
    """
    import torch

    features = loaded.orchestrator.numeric_example()
    assert features is not None  # export_run refuses runs whose inputs are not numbers
    rows = features.cpu().reshape(len(features), -1).to(torch.float32)
    return [rows, torch.cat([rows, rows[:1]])]


def metadata(loaded: LoadedRun) -> dict[str, Any]:
    """What a user of the exported file needs to know: inputs, outputs and classes."""
    example = loaded.orchestrator.numeric_example()
    shape = list(example.shape[1:]) if example is not None else []
    images = len(shape) == 3  # [C, H, W]: the size to resize images to, and their channels
    described = (
        f"float32 images [batch, {', '.join(map(str, shape))}] (C, H, W: resize to this size first; "
        f"raw pixel values 0-255) or the same values flattened to [batch, {shape[0] * shape[1] * shape[2]}]"
        if images
        else "float32 [batch, num_features]"
    )
    return {
        "run_dir": str(loaded.run_dir),
        "task": loaded.task,
        "feature_names": [] if images else loaded.orchestrator.feature_names(),
        "input_shape": shape,
        "input": f"{described}, raw (the model applies the run's preprocessing)",
        "output": "class probabilities [batch, num_classes]"
        if loaded.task == "classification"
        else "predictions",
        "classes": loaded.class_names if loaded.task == "classification" else None,
    }


def export_run(
    loaded: LoadedRun, fmt: str, output: str | Path | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Write the checked export and return where it is and how closely it matched."""
    import torch

    check_format(fmt)
    if loaded.orchestrator.numeric_example() is None:
        raise ConfigError(
            f"run {loaded.run_dir} takes raw values (texts, or a table with categories), which its "
            f"preprocessor turns into numbers in Python: an exported {fmt} model takes numbers only. "
            "Use `aiforge predict RUN_DIR --input FILE` on raw inputs instead"
        )
    path = output_path(loaded, fmt, output, overwrite)
    model = loaded.orchestrator.inference_model().cpu().eval()
    samples = sample_inputs(loaded)
    with torch.no_grad():
        expected = [model(x) for x in samples]
    if loaded.task == "classification":
        loaded.classes_for(expected[0].shape[-1])  # the class names must name every probability column
    info = metadata(loaded)
    writer = _write_torchscript if fmt == "torchscript" else _write_onnx
    with _lock_if_inside(loaded.run_dir, path):
        difference = writer(model, samples, expected, path, info)
    return {
        "format": fmt,
        "path": str(path),
        "checked_rows": [len(x) for x in samples],
        "max_abs_difference": difference,
        **info,
    }


def _lock_if_inside(run_dir: Path, path: Path) -> AbstractContextManager[object]:
    """The default export is written into the run folder: not while a run trains there."""
    from aiforge.runs import files as run_files
    from aiforge.runs.lock import acquire_run_lock

    if run_files.real_path(path.parent) == run_files.real_path(run_dir):
        return acquire_run_lock(run_dir, "aiforge export")
    return nullcontext()


_DEPRECATED_EXPORTERS = re.compile(r".*(torch\.jit|TorchScript|torch\.onnx|ONNX export)", re.DOTALL)


@contextmanager
def _exporting(notes: list[str]) -> Iterator[None]:
    """Collect the tracer's warnings into ``notes``; drop torch's deprecation notices for its exporters.

    torch 2.x marks torch.jit and the TorchScript-based ONNX exporter deprecated; they still work.
    Tracer warnings (a Python value taken as a constant) are common and usually harmless: the
    numeric check decides, and they are shown only if it fails. Other warnings pass through.
    """
    import torch

    from aiforge.runtime.log import logger

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        message = str(warning.message)
        if issubclass(warning.category, torch.jit.TracerWarning):
            note = f"{Path(warning.filename).name}:{warning.lineno}: {message.split('. ')[0]}"
            if note not in notes:
                notes.append(note)
                logger.debug(f"tracer: {note}")
        elif not (
            issubclass(warning.category, (DeprecationWarning, FutureWarning))
            and _DEPRECATED_EXPORTERS.match(message)
        ):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _compare(got: list[Any], expected: list[Any], what: str, notes: list[str]) -> float:
    """Largest absolute difference; a mismatch beyond rtol/atol is a PluginError."""
    import torch

    worst = 0.0
    for rows, (actual, wanted) in enumerate(zip(got, expected, strict=True)):
        actual = torch.as_tensor(actual)
        try:
            torch.testing.assert_close(actual, wanted, rtol=RTOL, atol=ATOL)
        except AssertionError as err:
            raise PluginError(
                f"the {what} export does not match the eager model on sample batch {rows + 1} "
                f"({len(wanted)} rows), so it was not written: {err}\nThe model or preprocessor probably "
                "has Python control flow or non-tensor steps that export cannot capture"
                + "".join(f"\n  tracer warning: {note}" for note in notes)
            ) from None
        if actual.numel():
            worst = max(worst, float((actual.double() - wanted.double()).abs().max()))
    return worst


def _write_torchscript(model: Any, samples: list[Any], expected: list[Any], path: Path, info: dict) -> float:
    import torch

    from aiforge.runs.files import atomic_path

    notes: list[str] = []
    with _exporting(notes):
        try:
            traced = torch.jit.trace(model, samples[0], check_trace=False)
        except Exception as err:
            raise PluginError(
                f"TorchScript tracing of the inference model failed: {type(err).__name__}: {err}"
            ) from None
    with _exporting(notes), atomic_path(path) as tmp:
        torch.jit.save(traced, str(tmp), _extra_files={METADATA_NAME: json.dumps(info)})
        reloaded = torch.jit.load(str(tmp), map_location="cpu")
        with torch.no_grad():
            got = [reloaded(x) for x in samples]
        return _compare(got, expected, "TorchScript", notes)


def _write_onnx(model: Any, samples: list[Any], expected: list[Any], path: Path, info: dict) -> float:
    import torch

    from aiforge.runs.files import atomic_path

    onnx, onnxruntime = _onnx_modules()
    notes: list[str] = []
    with atomic_path(path) as tmp:
        with _exporting(notes):
            try:
                torch.onnx.export(
                    model,
                    (samples[0],),
                    str(tmp),
                    input_names=["features"],
                    output_names=["output"],
                    dynamic_axes={"features": {0: "batch"}, "output": {0: "batch"}},
                    dynamo=False,  # the TorchScript-based exporter: needs no onnxscript
                )
                exported = onnx.load(str(tmp))
                entry = exported.metadata_props.add()
                entry.key, entry.value = METADATA_NAME, json.dumps(info)
                onnx.save(exported, str(tmp))
            except Exception as err:
                raise PluginError(
                    f"ONNX export of the inference model failed: {type(err).__name__}: {err}"
                ) from None
        session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = [torch.from_numpy(session.run(None, {"features": x.numpy()})[0]) for x in samples]
        return _compare(got, expected, "ONNX", notes)
