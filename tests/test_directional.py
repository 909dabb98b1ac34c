"""Directional checks: few forward passes, honest verdicts, and localisation of the seed bugs."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.linear1d import linear1d_case
from gradcheck_bench.cli import main
from gradcheck_bench.directional import check_directional, random_directions
from gradcheck_bench.models.mlp import mlp_cost, numpy_backprop, random_case


def test_directions_are_orthonormal_and_reproducible():
    basis = random_directions(47, 5, seed=3)
    assert np.allclose(basis.T @ basis, np.eye(5))
    assert np.array_equal(basis, random_directions(47, 5, seed=3))


def test_with_all_n_directions_it_equals_the_full_check_up_to_fd_noise():
    params, X, Y = gb.seed_case()
    full = gb.check("numpy-buggy", "fd", params, X, Y).difference
    directional = check_directional("numpy-buggy", params, X, Y, directions=47, localise=False).difference
    assert directional == pytest.approx(full, rel=1e-8)


@pytest.mark.parametrize("k", [1, 4, 16])
def test_seed_bugs_are_detected_and_named(k):
    result = check_directional("numpy-buggy", *gb.seed_case(), directions=k)
    assert not result.passed and set(result.culprits) == {"W2", "b1"}
    assert result.per_parameter.loc["W2", "scale"] == pytest.approx(2.0, rel=1e-6)
    assert result.per_parameter.loc["b1", "scale"] == pytest.approx(4.0, rel=1e-6)


@pytest.mark.parametrize("sizes", [(4, 30, 30, 1), (4, 120, 60, 1), (10, 80, 80, 1)])
@pytest.mark.parametrize("k", [1, 4])
def test_no_false_failures_on_correct_relu_nets(sizes, k):
    for seed in range(3):
        params, X, Y = random_case(sizes, 100, seed)
        result = check_directional("numpy", params, X, Y, directions=k, seed=seed)
        assert result.passed, result.summary()


def test_kinks_are_stepped_around_with_a_large_step():
    params, X, Y = random_case((4, 120, 60, 1), 100, 0)
    result = check_directional("numpy", params, X, Y, directions=16, eps=1e-2)  # a unit direction moves each coordinate ~eps/89
    assert result.passed and any("straddled a ReLU kink" in note for note in result.notes)


def test_forward_passes_are_reported_and_independent_of_n():
    passes = []
    for sizes in ((4, 5, 3, 1), (4, 120, 60, 1)):
        params, X, Y = random_case(sizes, 100, 1)
        cost = gb.CountingCost(mlp_cost)  # counts real calls: the directional probe calls the cost directly
        result = check_directional("numpy", params, X, Y, directions=4, cost=cost)
        assert f"{cost.calls} forward passes" in " ".join(result.notes)
        passes.append(cost.calls)
    assert passes[0] == passes[1] < 2 * 4 + 5  # 2 per direction plus the checks of the point, whatever n is


def test_a_user_cost_and_callable_candidate():
    params, X, Y = gb.seed_case()
    cost = lambda p, X, Y: mlp_cost(p, X, Y) * 3.0  # noqa: E731
    candidate = lambda p, X, Y: {k: 3.0 * v for k, v in numpy_backprop(p, X, Y).items()}  # noqa: E731
    assert check_directional(candidate, params, X, Y, cost=cost).passed
    assert not check_directional("numpy", params, X, Y, cost=cost).passed


@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_bad_direction_count_is_a_clear_error(bad):
    with pytest.raises(gb.InputError, match="directions"):
        check_directional("numpy", *gb.seed_case(), directions=bad)


def test_cli(capsys):
    assert main(["directional", "--candidate", "numpy-buggy", "--directions", "2"]) == 1
    out = capsys.readouterr().out
    assert "W2 x2.000" in out and "b1 x4.000" in out
    assert main(["directional", "--case", "random", "--sizes", "4,30,30,1", "--examples", "100"]) == 0
    assert main(["directional", "--directions", "0"]) == 2


@pytest.mark.parametrize("option", [{"threshold": -1.0}, {"threshold": float("nan")}, {"eps": 0.0}])
def test_bad_threshold_or_step_is_a_clear_error(option):
    with pytest.raises(gb.InputError, match=next(iter(option))):
        check_directional("numpy", *gb.seed_case(), **option)


def test_linear1d_model():
    result = check_directional("numpy", *linear1d_case(3.0, 2.0), model="linear1d", directions=1)
    assert result.passed
