"""The complex-step and Richardson oracles, and the complex-safe MLP cost they rely on.

References are the hand-written ``numpy`` backprop (checked against torch and
jax autograd in their own test files).
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.linear1d import linear1d_case
from gradcheck_bench.errors import InputError, SourceError
from gradcheck_bench.models.mlp import mlp_cost, mlp_forward, random_case
from gradcheck_bench.sources.complex_step import complex_step
from gradcheck_bench.differences.richardson import extrapolate, richardson


def old_real_cost(params, X, Y, xp=np):
    """The MLP cost as written before the complex-safe helpers, for bit-identity checks."""
    L = len(params) // 2
    A = X
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        A = xp.where(Z > 0, Z, 0.0) if l < L else None
    softplus = xp.where(Z > 0, Z, 0.0) + xp.log1p(xp.exp(-xp.abs(Z)))
    return (softplus - Y * Z).mean()


@pytest.mark.parametrize("seed", range(4))
def test_mlp_cost_is_bit_identical_for_real_numpy_input(seed):
    params, X, Y = random_case((4, 12, 7, 1), 40, seed)
    params["b3"] = params["b3"] + 30.0 * (seed % 2)  # a saturated output too
    assert mlp_cost(params, X, Y) == old_real_cost(params, X, Y)


def test_mlp_cost_is_bit_identical_for_torch_and_jax():
    params, X, Y = gb.seed_case()
    torch = pytest.importorskip("torch")
    as_t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    tp = {k: as_t(v) for k, v in params.items()}
    assert mlp_cost(tp, as_t(X), as_t(Y), torch).item() == old_real_cost(tp, as_t(X), as_t(Y), torch).item()
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    jp = {k: jnp.asarray(v) for k, v in params.items()}
    assert float(mlp_cost(jp, jnp.asarray(X), jnp.asarray(Y), jnp)) == float(
        old_real_cost(jp, jnp.asarray(X), jnp.asarray(Y), jnp)
    )


def test_relu_branches_on_the_real_part_of_complex_input():
    Z = np.array([[1.0 + 1e-20j, -1.0 + 1e-20j]])
    out = gb.models.mlp.relu(Z)
    assert out[0, 0] == Z[0, 0] and out[0, 1] == 0


def test_complex_step_matches_backprop_to_machine_precision_on_the_fraud_net():
    params, X, Y = gb.seed_case()
    assert gb.check("numpy", "complex-step", params, X, Y).difference <= 1e-13


@pytest.mark.parametrize("seed", range(3))
def test_complex_step_on_random_relu_nets(seed):
    params, X, Y = random_case((4, 20, 10, 1), 50, seed)
    assert gb.check("numpy", "complex-step", params, X, Y).difference <= 1e-13


def test_complex_step_names_the_seed_bugs():
    params, X, Y = gb.seed_case()
    result = gb.check("numpy-buggy", "complex-step", params, X, Y)
    assert not result.passed and set(result.culprits) == {"W2", "b1"}


def test_complex_step_on_the_1d_model_is_exact():
    result = gb.check("numpy", "complex-step", *linear1d_case(3.0, 2.0), model="linear1d")
    assert result.difference == 0.0


def test_complex_step_rejects_a_cost_that_drops_the_imaginary_part():
    params, X, Y = gb.seed_case()
    real_only = lambda p, X, Y: float(np.real(mlp_cost(p, X, Y)))  # noqa: E731
    with pytest.raises(SourceError, match="complex-safe"):
        complex_step(real_only)(params, X, Y)


@pytest.mark.parametrize("bad", [0.0, -1e-20, float("nan"), "1e-20"])
def test_complex_step_rejects_bad_steps(bad):
    with pytest.raises(InputError, match="complex step"):
        complex_step(h=bad)


def test_richardson_matches_backprop_on_the_fraud_net():
    params, X, Y = gb.seed_case()
    assert gb.check("numpy", "richardson", params, X, Y).difference <= 1e-12


def test_richardson_takes_levels_and_step_through_check():
    params, X, Y = gb.seed_case()
    one_level = gb.check("numpy", "richardson", params, X, Y, levels=1, h=2.0**-6).difference
    three = gb.check("numpy", "richardson", params, X, Y, levels=3, h=2.0**-6).difference
    assert three < one_level / 100  # extrapolation removes the h^2 error


def steep_exponential_cost(params, X, Y, xp=np):
    return xp.sum(xp.exp(32.0 * params["t"]))


def steep_exponential_gradient(params, X, Y):
    return {"t": 32.0 * np.exp(32.0 * params["t"])}


def test_richardson_resolves_a_cost_whose_high_derivatives_defeat_its_coarse_steps():
    # d^7/dt^7 exp(32 t) = 32^7 exp(32 t): at the default coarsest step the extrapolation keeps a 1e-6 error.
    model = gb.Model(name="steep-exponential", cost=steep_exponential_cost)
    params = {"t": np.linspace(2.0, 3.0, 4)}
    exact = steep_exponential_gradient(params, None, None)["t"]
    first_look = gb.gradient("richardson", params, None, None, model=model)["t"]
    assert gb.relative_difference(first_look, exact) > gb.DEFAULT_THRESHOLD

    result = gb.check(steep_exponential_gradient, "richardson", params, None, None, model=model)
    assert result.passed, result.summary()
    assert result.difference < 1e-10
    assert any("finer steps" in note for note in result.notes)
    # The finer look does not excuse a wrong gradient: 1% off still fails, and is named.
    wrong = gb.check({"t": exact * 1.01}, "richardson", params, None, None, model=model)
    assert not wrong.passed
    assert wrong.culprits


def test_extrapolation_is_exact_for_an_even_polynomial_error():
    # D(h) = 1 + h^2 + h^4: two eliminations leave exactly 1.
    values = [1 + h**2 + h**4 for h in (0.5, 0.25, 0.125)]
    assert extrapolate(values) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("levels", [0, 9, 2.5])
def test_richardson_rejects_bad_levels(levels):
    with pytest.raises(InputError, match="levels"):
        richardson(levels=levels)


def test_new_oracles_are_listed_as_available():
    assert {"complex-step", "richardson"} <= set(gb.available_sources())


def recorded_points(oracle_of, params, X, Y):
    """The points at which an oracle built by ``oracle_of(cost)`` evaluated the cost, recorded by the cost itself."""
    points = []

    def recording_cost(p, X, Y):
        points.append({name: np.array(value) for name, value in p.items()})
        return mlp_cost(p, X, Y)

    with gb.count_forward_passes() as counter:
        oracle_of(recording_cost)(params, X, Y)
    assert counter.passes == len(points)  # the counter saw every real call, once
    return points


def moved_coordinates(point, params):
    return sum(int(np.sum(point[name] != params[name])) for name in params)


def test_complex_step_evaluates_one_complex_point_per_parameter():
    params, X, Y = gb.seed_case()
    points = recorded_points(complex_step, params, X, Y)
    complex_points = [p for p in points if any(np.iscomplexobj(v) for v in p.values())]
    # one complex point per coordinate, and the analyticity probe's one along a random direction (all 47 moved)
    per_coordinate = [p for p in complex_points if moved_coordinates(p, params) == 1]
    assert len(per_coordinate) == 47 and len(complex_points) == 48
    assert len(points) - len(complex_points) <= 2 + 4  # the checks of the point itself; the probe's real differences


def test_richardson_evaluates_two_points_per_level_and_parameter():
    params, X, Y = gb.seed_case()
    points = recorded_points(lambda cost: richardson(cost, levels=3), params, X, Y)
    single = [p for p in points if moved_coordinates(p, params) == 1]
    assert len(single) == 2 * 3 * 47 and len(points) - len(single) <= 3
    assert mlp_forward(params, np.ones((4, 2))).logits.shape == (1, 2)
