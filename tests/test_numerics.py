"""numerics.py: the epoch's exact, NaN-aware loss sum and the finite check."""

from __future__ import annotations

import math

import pytest
import torch

from aiforge.numerics import all_finite, weighted_loss_sum


def test_weighted_loss_sum_is_exact_for_many_batches() -> None:
    losses, sizes = [0.1] * 10_000 + [1e16], [3] * 10_000 + [1]
    weighted, count = weighted_loss_sum(losses, sizes, drop_nonfinite=False)
    assert weighted == math.fsum([0.3] * 10_000 + [1e16]) and count == 30_001  # no rounding drift


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_loss_makes_the_sum_nan_unless_dropped(bad: float) -> None:
    weighted, count = weighted_loss_sum([0.5, bad, 1.5], [2, 2, 4], drop_nonfinite=False)
    assert math.isnan(weighted) and count == 8
    assert weighted_loss_sum([0.5, bad, 1.5], [2, 2, 4], drop_nonfinite=True) == (7.0, 6)


def test_inf_and_minus_inf_give_nan_not_an_error() -> None:
    weighted, _ = weighted_loss_sum([math.inf, -math.inf], [1, 1], drop_nonfinite=False)
    assert math.isnan(weighted)


def test_losses_and_sizes_must_pair_up() -> None:
    with pytest.raises(ValueError):
        weighted_loss_sum([0.5], [1, 2], drop_nonfinite=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.complex64])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def testall_finite_finds_any_non_finite_value(dtype: torch.dtype, bad: float) -> None:
    tensors = [torch.zeros(3, 4, dtype=dtype), torch.empty(0), torch.ones(5, dtype=dtype)]
    assert all_finite(tensors) and all_finite([])
    for position in (0, 7, 11):
        broken = [tensor.clone() for tensor in tensors]
        broken[0].view(-1)[position] = bad
        assert not all_finite(broken), (dtype, bad, position)
    if dtype.is_complex:  # a non-finite imaginary part counts too
        broken = [tensor.clone() for tensor in tensors]
        broken[2][1] = complex(0.0, bad)
        assert not all_finite(broken)
