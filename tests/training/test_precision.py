"""Mixed precision, torch.compile and the loader options: the loop's performance switches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from test_trainer_resume import CPU, check_every_resume, loaders, make_trainer

from aiforge.config.model_configs import TrainingConfig
from aiforge.data.batching import LoaderOptions, loader_options, make_batches
from aiforge.training import trainer as trainer_module
from aiforge.training.precision import Precision, full_precision, precision_for


# -- precision ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "meant"),
    [
        (32, "32"),
        ("32-true", "32"),
        ("32", "32"),
        ("bf16", "bf16-mixed"),
        (16, "16-mixed"),
        ("16", "16-mixed"),
    ],
)
def test_lightnings_spellings_of_precision_are_accepted(written: object, meant: str) -> None:
    assert TrainingConfig(precision=written).precision == meant


@pytest.mark.parametrize("written", ["8", 64, "fp8", True, 16.0])
def test_an_unknown_precision_is_refused(written: object) -> None:
    with pytest.raises(ValidationError, match="'32', 'bf16-mixed' or '16-mixed'"):
        TrainingConfig(precision=written)


def test_16_mixed_on_a_cpu_runs_as_bf16_with_a_warning(warnings: list[str]) -> None:
    precision = precision_for("16-mixed", CPU)
    assert precision.dtype is torch.bfloat16 and precision.scaler is None
    assert any("16-mixed needs CUDA" in message for message in warnings)


def test_bf16_mixed_autocasts_the_model_and_keeps_float32_weights() -> None:
    trainer = make_trainer(precision="bf16-mixed")
    outputs = trainer.precision.run(trainer.model, torch.randn(3, 4))
    assert outputs.dtype is torch.bfloat16
    assert all(p.dtype is torch.float32 for p in trainer.model.parameters())
    assert full_precision(outputs).dtype is torch.float32


def test_bf16_mixed_trains_and_reports_float32_numbers(tmp_path: Path) -> None:
    trainer = make_trainer(precision="bf16-mixed")
    history = trainer.fit(*loaders("tensor", 7), epochs=4)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(isinstance(row["val_loss"], float) for row in history)


def test_bf16_mixed_resumes_exactly(tmp_path: Path) -> None:
    states = check_every_resume(
        tmp_path, "tensor", epochs=2, checkpoint_every_n_steps=3, precision="bf16-mixed"
    )
    assert all(state["grad_scaler"] is None for state in states)  # bfloat16 needs no scaler


@pytest.fixture
def float16_with_scaler_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """16-mixed as it runs on CUDA (float16 autocast + GradScaler), here on the CPU, which torch
    supports (slowly): the loop's scaler handling is the same code on either device."""
    monkeypatch.setattr(trainer_module, "precision_for", lambda name, device: Precision(name, device))


@pytest.mark.usefixtures("float16_with_scaler_on_cpu")
@pytest.mark.parametrize("kind", ["tensor", "loader"])
def test_16_mixed_with_its_grad_scaler_resumes_exactly(tmp_path: Path, kind: str) -> None:
    states = check_every_resume(
        tmp_path, kind, epochs=2, checkpoint_every_n_steps=4, precision="16-mixed", gradient_clip_norm=1.0
    )
    scales = [state["grad_scaler"]["scale"] for state in states]
    assert all(scale > 0 for scale in scales)


@pytest.mark.usefixtures("float16_with_scaler_on_cpu")
def test_the_grad_scaler_skips_an_overflowing_step_and_lowers_its_scale() -> None:
    trainer = make_trainer(precision="16-mixed")
    scaler = trainer.precision.scaler
    assert scaler is not None
    trainer.precision.load_state_dict({**scaler.state_dict(), "scale": 2.0**60})  # float16 overflows
    before = {key: value.clone() for key, value in trainer.model.state_dict().items()}
    batch = next(iter(loaders("tensor", 7)[0]))
    loss = trainer.precision.run(trainer.model.training_step, batch, 0)["loss"]
    trainer.precision.backward(loss)
    trainer._optimizer_step(1)
    assert scaler.get_scale() < 2.0**60
    after = trainer.model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)  # the step was skipped


# -- compile --------------------------------------------------------------------------------------
def test_compile_options_are_checked() -> None:
    assert TrainingConfig(compile=True).compile is True
    options = TrainingConfig(compile={"backend": "eager", "mode": "default"}).compile
    assert options.backend == "eager"
    with pytest.raises(ValidationError, match=r"unknown torch\.compile backend 'nope'"):
        TrainingConfig(compile={"backend": "nope"})
    with pytest.raises(ValidationError, match="mode"):
        TrainingConfig(compile={"mode": "fastest"})


def test_a_compiled_model_trains_like_the_plain_one_and_keeps_its_state_dict_keys() -> None:
    plain = make_trainer()
    plain_history = plain.fit(*loaders("tensor", 7), epochs=2)
    compiled = make_trainer(compile={"backend": "eager"})
    assert compiled.model._compiled_call_impl is not None  # the model's calls go through dynamo
    history = compiled.fit(*loaders("tensor", 7), epochs=2)
    assert list(compiled.model.state_dict()) == list(plain.model.state_dict())  # checkpoints stay plain
    for got, want in zip(history, plain_history, strict=True):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_a_compile_failure_says_that_the_model_is_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = make_trainer(compile={"backend": "eager"})

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("backend compiler failed")

    monkeypatch.setattr(trainer.model, "_compiled_call_impl", broken)
    hint = r"compiled \(training_config\.compile\): try without"
    with pytest.raises(trainer_module.TrainingError, match=hint):
        trainer.fit(*loaders("tensor", 7), epochs=1)


# -- loader options -------------------------------------------------------------------------------
def test_loader_defaults_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert loader_options(CPU) == LoaderOptions(CPU, 0, False, False)
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert loader_options(gpu) == LoaderOptions(gpu, 4, True, True)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # 8 GPU processes share 16 cores
    assert loader_options(gpu).num_workers == 2
    assert loader_options(gpu, 0) == LoaderOptions(gpu, 0, True, False)
    assert loader_options(CPU, 2, pin_memory=True) == LoaderOptions(CPU, 2, False, True)  # no GPU to pin for
    assert loader_options(CPU, 2, persistent_workers=False).persistent_workers is False


def test_workers_give_the_same_batches_as_the_main_process() -> None:
    from test_trainer_resume import PerItem

    rows = torch.arange(40)
    in_process = make_batches(PerItem(), rows, None, 8, True, 3, options=loader_options(CPU, 0))
    workers = make_batches(PerItem(), rows, None, 8, True, 3, options=loader_options(CPU, 2))
    assert workers.num_workers == 2 and workers.persistent_workers
    for _ in range(2):  # two epochs: the same shuffle either way
        for ours, theirs in zip(in_process, workers, strict=True):
            assert torch.equal(ours["labels"], theirs["labels"])


@pytest.mark.parametrize("written", [-1, "many", True, 2.5])
def test_num_workers_must_be_a_count_or_auto(written: object) -> None:
    assert TrainingConfig(num_workers=3).num_workers == 3
    with pytest.raises(ValidationError) as caught:
        TrainingConfig(num_workers=written)
    (error,) = caught.value.errors()  # one clear message, not one per member of the union
    assert "number of worker processes (0 or more) or 'auto'" in error["msg"]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ({"backend": "nope"}, "backend: unknown torch.compile backend 'nope'"),
        ({"mode": "fastest"}, "mode: Input should be 'default'"),
        ({"speed": 1}, "speed: Extra inputs are not permitted"),
        ({1: 2}, "Keys should be strings"),
        ("yes please", "expected true, false or torch.compile options"),
    ],
)
def test_bad_compile_options_give_one_clear_message(written: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TrainingConfig(compile=written)
    (error,) = caught.value.errors()
    assert message in error["msg"]
