import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.linear1d import linear1d_case, linear1d_cost
from gradcheck_bench.models.mlp import exercise_cost, init_params, mlp_cost, random_case
from gradcheck_bench.errors import InputError
from gradcheck_bench.ravel import parameter_count


def test_seed_case_is_drawn_exactly_as_the_spec_says():
    np.random.seed(1)
    expected = [np.random.randn(*shape) for shape in [(4, 3), (5, 4), (5, 1), (3, 5), (3, 1), (1, 3), (1, 1)]]
    params, X, Y = gb.seed_case()
    assert list(params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for got, want in zip([X, *params.values()], expected):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(Y, [[1.0, 1.0, 0.0]])
    assert parameter_count(params) == 47


def test_seed_case_does_not_touch_the_global_generator():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    gb.seed_case()
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_stable_cost_equals_the_exercise_formula():
    params, X, Y = gb.seed_case()
    assert mlp_cost(params, X, Y) == pytest.approx(exercise_cost(params, X, Y), rel=1e-13)


def test_stable_cost_stays_finite_where_the_exercise_formula_saturates():
    params, X, Y = random_case((4, 5, 1), 3, seed=0)
    params["W2"] = params["W2"] * 1e4
    assert np.isfinite(mlp_cost(params, X, Y))


@pytest.mark.parametrize("sizes", [(4, 5, 3, 1), (10, 200, 200, 1), (3, 64, 64, 64, 64, 64, 64, 1)])
def test_random_cases_have_finite_loss_and_the_right_shapes(sizes):
    params, X, Y = random_case(sizes, examples=7, seed=3)
    assert X.shape == (sizes[0], 7) and Y.shape == (1, 7)
    assert set(np.unique(Y)) <= {0.0, 1.0}
    for l in range(1, len(sizes)):
        assert params[f"W{l}"].shape == (sizes[l], sizes[l - 1])
        assert params[f"b{l}"].shape == (sizes[l], 1)
    assert np.isfinite(mlp_cost(params, X, Y))


def test_random_case_is_reproducible_from_its_seed():
    a, b = random_case(seed=5), random_case(seed=5)
    for name in a[0]:
        np.testing.assert_array_equal(a[0][name], b[0][name])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("sizes", [(4,), (4, 0, 1), (4, 5, 2), (4, -1, 1)])
def test_bad_layer_sizes_are_refused(sizes):
    with pytest.raises(InputError, match="sizes|output layer"):
        init_params(sizes)


def test_linear1d_cost():
    params, x, _ = linear1d_case(x=3.0, theta=2.0)
    assert linear1d_cost(params, x) == 6.0
