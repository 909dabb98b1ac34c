"""The dtype table: automatic fd step and threshold, and the float32 warning."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.mlp import random_case
from gradcheck_bench.errors import InputError
from gradcheck_bench.differences.steps import default_step
from gradcheck_bench.tolerances import TOLERANCES, LowPrecisionWarning, default_threshold, point_dtype


def as_float32(case):
    params, X, Y = case
    return {k: v.astype(np.float32) for k, v in params.items()}, X.astype(np.float32), Y.astype(np.float32)


def test_table_steps_are_powers_of_two_near_the_cube_root_of_machine_epsilon():
    for dtype, row in TOLERANCES.items():
        assert np.log2(row.fd_step) == int(np.log2(row.fd_step))
        assert 0.5 < row.fd_step / np.finfo(dtype).eps ** (1 / 3) < 2


@pytest.mark.parametrize(
    "sizes, examples, seed",
    [((4, 5, 3, 1), 3, 0), ((4, 5, 3, 1), 3, 1), ((4, 30, 30, 1), 100, 0), ((10, 20, 1), 50, 2)],
)
def test_default_fd_reaches_1e_9_on_correct_float64_gradients(sizes, examples, seed):
    params, X, Y = random_case(sizes, examples, seed)
    assert gb.check("numpy", "fd", params, X, Y).difference <= 1e-9


def test_seed_case_default_fd_is_far_below_the_exercise_number():
    assert gb.check("numpy", "fd", *gb.seed_case()).difference <= 1e-10


def test_float32_check_warns_and_uses_the_float32_threshold_instead_of_failing():
    params, X, Y = as_float32(random_case((4, 30, 30, 1), 100, 0))
    with pytest.warns(LowPrecisionWarning, match="float32"):
        result = gb.check("numpy", "fd", params, X, Y)
    assert result.threshold == TOLERANCES[np.dtype(np.float32)].threshold
    assert result.difference > 2e-7  # the float64 threshold would have been a false failure
    assert result.passed


def test_float32_check_still_names_the_seed_bugs():
    with pytest.warns(LowPrecisionWarning):
        result = gb.check("numpy-buggy", "fd", *as_float32(gb.seed_case()))
    assert not result.passed and set(result.culprits) == {"W2", "b1"}


def test_float64_check_gives_no_warning(recwarn):
    gb.check("numpy", "fd", *gb.seed_case())
    assert not [w for w in recwarn if issubclass(w.category, LowPrecisionWarning)]


def test_explicit_threshold_wins_over_the_table():
    with pytest.warns(LowPrecisionWarning):
        result = gb.check("numpy", "fd", *as_float32(gb.seed_case()), threshold=1e-3)
    assert result.threshold == 1e-3


def test_mixed_precision_uses_the_least_precise_dtype():
    params, _, _ = gb.seed_case()
    params["W1"] = params["W1"].astype(np.float32)
    assert point_dtype(params) == np.dtype(np.float32)
    as_float32 = {name: value.astype(np.float32) for name, value in params.items()}
    assert default_step(params) == default_step(as_float32) > default_step(gb.seed_case()[0])
    assert default_threshold(params) == default_threshold(as_float32) == TOLERANCES[np.dtype(np.float32)].threshold


def test_unknown_precision_is_a_clear_error():
    params, X, Y = gb.seed_case()
    params = {k: v.astype(np.longdouble) for k, v in params.items()}
    if np.dtype(np.longdouble) == np.dtype(np.float64):
        pytest.skip("long double is float64 on this platform")
    with pytest.raises(InputError, match="no step or tolerance is known for dtype float128"):
        gb.check("numpy", "fd", params, X, Y)
