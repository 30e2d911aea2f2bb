"""Why training stopped: the error the loop raises, and what to tell a user whose model plugin
failed in a step (the AIForge settings that may be why)."""

from __future__ import annotations

from aiforge.errors import TrainingError


def failure_hints(error: BaseException, step: str, inference_mode: bool, compiled: bool) -> str:
    """``"; hint; hint"`` for a failure in ``step`` (``training_step`` or ``validation_step``), or ``""``."""
    message = str(error).lower()
    about_autograd = "grad" in message or "inference" in message
    hints = []
    if inference_mode and step == "validation_step" and about_autograd:
        hints.append(
            "validation runs under torch.inference_mode: a validation_step that needs autograd "
            "needs training_config.inference_mode: false"
        )
    if inference_mode and step == "training_step" and "inference tensor" in message:
        hints.append(
            "the model may keep a tensor its validation_step made under torch.inference_mode: "
            "if so, set training_config.inference_mode: false"
        )
    if compiled:
        hints.append("the model is compiled (training_config.compile): try without it")
    return "".join(f"; {hint}" for hint in hints)


def step_failure(
    plugin: str, step: str, where: str, error: BaseException, inference_mode: bool, compiled: bool
) -> TrainingError:
    """The error for model plugin ``plugin`` failing in ``step`` at ``where`` (``epoch 2, batch 5``),
    with the :func:`failure_hints` that apply; raise it ``from error``."""
    hints = failure_hints(error, step, inference_mode, compiled)
    return TrainingError(
        f"model plugin '{plugin}' failed in {step} ({where}): {type(error).__name__}: {error}{hints}"
    )
