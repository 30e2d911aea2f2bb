"""The hints added to a model plugin's step failure."""

from __future__ import annotations

from aiforge.training.step_failures import failure_hints

NO_GRAD = RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
KEPT = RuntimeError("Inference tensors cannot be saved for backward.")
SHAPES = RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)")


def test_autograd_in_validation_points_at_inference_mode() -> None:
    hint = failure_hints(NO_GRAD, "validation_step", inference_mode=True, compiled=False)
    assert hint == (
        "; validation runs under torch.inference_mode: a validation_step that needs autograd "
        "needs training_config.inference_mode: false"
    )
    assert failure_hints(NO_GRAD, "validation_step", inference_mode=False, compiled=False) == ""


def test_an_inference_tensor_in_training_points_at_inference_mode_only_when_it_is_on() -> None:
    hint = failure_hints(KEPT, "training_step", inference_mode=True, compiled=False)
    assert "if so, set training_config.inference_mode: false" in hint
    assert failure_hints(KEPT, "training_step", inference_mode=False, compiled=False) == ""


def test_unrelated_failures_get_no_inference_hint_and_compiled_models_the_compile_hint() -> None:
    assert failure_hints(SHAPES, "validation_step", inference_mode=True, compiled=False) == ""
    both = failure_hints(NO_GRAD, "validation_step", inference_mode=True, compiled=True)
    assert both.count("; ") == 2
    assert both.endswith("the model is compiled (training_config.compile): try without it")
