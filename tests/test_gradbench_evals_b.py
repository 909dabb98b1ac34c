"""gradbench's kmeans, particle and saddle evals as models: gradbench's answers, every source, the planted bugs.

Expected values are gradbench's: its input stream (drawn here again with NumPy's global generator, seeded
31337, in gradbench's order), kmeans' closed-form Newton direction ``C_j - m_j`` (computed here from the points
directly), and the constants gradbench's particle and saddle evals compare with. None is read off the code
under test.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench import descent
from gradcheck_bench.errors import InputError, SourceError
from gradcheck_bench.gradbench import passes
from gradcheck_bench.models import kmeans, particle, saddle

PARTICLE_EXPECTED = 0.2071918746486116
"""gradbench's particle constant (its run.py), for every mode."""
SADDLE_EXPECTED = [8.246324826140356e-06] * 4
"""gradbench's saddle constant (its run.py), for every mode."""


def installed(module: str) -> bool:
    from gradcheck_bench.installed import module_installed

    return module_installed(module)


# ---------------------------------------------------------------------------------------------------- kmeans


def closed_form_direction(centroids: np.ndarray, points: np.ndarray) -> np.ndarray:
    """gradbench's reference: ``C_j - mean of the points nearest C_j`` (first index on a tie), from the points."""
    squared = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    owner = squared.argmin(axis=1)
    return np.stack([centroids[j] - points[owner == j].mean(axis=0) for j in range(len(centroids))])


def test_kmeans_inputs_are_gradbenchs_stream():
    saved = np.random.get_state()
    try:
        np.random.seed(31337)  # gradbench's order: k*n*d sorted, ties in k, n, d nesting order
        first = np.random.rand(1000, 8)     # k=10,  n=1000,  d=8
        second = np.random.rand(1000, 16)   # k=10,  n=1000,  d=16
        np.random.rand(10000, 8)            # k=10,  n=10000, d=8
        fourth = np.random.rand(1000, 8)    # k=100, n=1000,  d=8 (the same product as the one before it)
    finally:
        np.random.set_state(saved)
    before = np.random.get_state()[1].copy()
    for sizes, points in (((10, 1000, 8), first), ((10, 1000, 16), second), ((100, 1000, 8), fourth)):
        params, X, Y = kmeans.kmeans_case(*sizes)
        assert np.array_equal(X, points) and Y is None
        assert np.array_equal(params["centroids"], points[-sizes[0]:])
    assert np.array_equal(np.random.get_state()[1], before)  # the caller's generator is left alone
    assert list(kmeans.MODEL.cases)[0] == "kmeans-k10-n1000-d8"


@pytest.mark.parametrize("name", list(kmeans.MODEL.cases))
def test_kmeans_newton_direction_by_hand_and_by_autograd_is_gradbenchs(name):
    params, X, Y = kmeans.MODEL.cases[name]()
    expected = closed_form_direction(params["centroids"], X)
    assert passes(kmeans.newton_direction("numpy", params, X), expected)
    second = "torch" if installed("torch") else "jax" if installed("jax") else None
    if second is None:
        pytest.skip("neither torch nor jax is installed")
    assert passes(kmeans.newton_direction(second, params, X), expected)


def test_kmeans_newton_direction_from_jax():
    pytest.importorskip("jax")
    params, X, _ = kmeans.MODEL.cases["kmeans-k10-n1000-d8"]()
    assert passes(kmeans.newton_direction("jax", params, X), closed_form_direction(params["centroids"], X))


@pytest.mark.parametrize("name", list(kmeans.MODEL.cases))
def test_kmeans_gradient_and_hvp_pass_against_fd(name):
    params, X, Y = kmeans.MODEL.cases[name]()
    assert gb.check("numpy", "fd", params, X, Y, model="kmeans").passed
    assert gb.check("numpy", "fd", params, X, Y, model="kmeans", derivative="hvp").passed


@pytest.mark.slow
def test_kmeans_at_a_size_left_out_of_the_cases():
    """gradbench's (k, n, d) = (10, 10000, 8): the hand-written pieces and fd there too (not a case: see docs)."""
    params, X, Y = kmeans.kmeans_case(10, 10000, 8)
    assert passes(kmeans.newton_direction("numpy", params, X), closed_form_direction(params["centroids"], X))
    assert gb.check("numpy", "fd", params, X, Y, model="kmeans").passed


def test_kmeans_second_sources_agree_on_gradient_and_hvp():
    params, X, Y = kmeans.MODEL.cases["kmeans-k10-n1000-d16"]()
    assert gb.check("numpy", "complex-step", params, X, Y, model="kmeans").difference < 1e-12
    assert gb.check("numpy", "fd-kink-safe", params, X, Y, model="kmeans").passed
    if installed("torch"):
        assert gb.check("numpy", "torch", params, X, Y, model="kmeans", derivative="hvp").passed


def test_kmeans_planted_bug_is_named_in_the_gradient_and_the_hvp():
    params, X, Y = kmeans.MODEL.cases["kmeans-k10-n1000-d8"]()
    hvp_reference = "torch" if installed("torch") else "fd"  # fd's second differences take 4n passes, and more
    for derivative, reference in (("gradient", "complex-step"), ("hvp", hvp_reference)):
        result = gb.check("numpy-buggy", reference, params, X, Y, model="kmeans", derivative=derivative)
        assert not result.passed and result.culprits == ["centroids"]
    wrong = kmeans.newton_direction("numpy-buggy", params, X)
    assert not passes(wrong, closed_form_direction(params["centroids"], X))


def test_kmeans_newton_direction_refuses_a_source_without_hvp():
    params, X, _ = kmeans.MODEL.cases["kmeans-k10-n1000-d8"]()
    with pytest.raises(SourceError, match="'complex-step' gives no Hessian-vector product"):
        kmeans.newton_direction("complex-step", params, X)


def test_kmeans_bad_points_are_refused():
    params, X, _ = kmeans.MODEL.cases["kmeans-k10-n1000-d8"]()
    with pytest.raises(InputError, match=r"shape \(n, d\) with d = 8"):
        gb.check("numpy", "fd", params, X[:, :3], model="kmeans")


# ---------------------------------------------------------------------------------------------------- particle


@pytest.mark.slow
def test_particle_by_hand_reaches_gradbenchs_answer():
    assert passes(particle.solve("numpy"), PARTICLE_EXPECTED)


@pytest.mark.parametrize("w", [0.0, 0.5])
def test_particle_gradient_passes_against_fd_and_second_sources(w):
    point = particle.particle_case(w)
    assert gb.check("numpy", "fd", *point, model="particle").passed
    assert gb.check("numpy", "complex-step", *point, model="particle").difference < 1e-12
    for second in ("torch", "jax"):
        if installed(second):
            assert gb.check("numpy", second, *point, model="particle").difference < 1e-12


def test_particle_planted_bug_is_named():
    result = gb.check("numpy-buggy", "fd", *particle.particle_case(), model="particle")
    assert not result.passed and result.culprits == ["w"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", particle.MODES)
def test_particle_jax_reaches_gradbenchs_answer_in_every_mode(mode):
    pytest.importorskip("jax")
    assert passes(particle.solve("jax", mode), PARTICLE_EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["rr"])  # rf and fr descents take 4-14 min: their outer gradients are checked below
def test_particle_torch_reaches_gradbenchs_answer(mode):
    pytest.importorskip("torch")
    assert passes(particle.solve("torch", mode), PARTICLE_EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["rf", "fr"])
def test_particle_torch_gives_gradbenchs_outer_gradient_in_the_forward_modes(mode):
    """At gradbench's start and at another w, against the hand-written gradient (a full descent: see rr)."""
    pytest.importorskip("torch")
    outer, inner = ("reverse" if letter == "r" else "forward" for letter in mode)
    gradient = descent.source_gradient("torch", particle.model_for(inner), "w", outer)
    for w in (0.0, 0.5):
        by_hand = particle.particle_gradient({"w": np.array([w])})["w"]
        assert passes(gradient(np.array([w])), by_hand)


def test_particle_torch_ff_is_unavailable_for_the_reason_given():
    pytest.importorskip("torch")
    with pytest.raises(InputError, match="Nested forward mode"):
        particle.solve("torch", "ff")
    with pytest.raises(InputError, match="Nested forward mode AD is not supported"):  # torch says so itself
        descent.source_gradient("torch", particle.model_for("forward"), "w", "forward")(np.zeros(1))


def test_particle_refuses_a_bad_point():
    with pytest.raises(InputError, match="shape \\(1,\\)"):
        gb.check("numpy", "fd", {"w": np.zeros(2)}, model="particle")


# ---------------------------------------------------------------------------------------------------- saddle


@pytest.mark.slow
def test_saddle_by_hand_reaches_gradbenchs_answer():
    assert passes(saddle.solve("numpy"), SADDLE_EXPECTED)


@pytest.mark.parametrize("a", [(1.0, 1.0), (0.3, -0.7)])
def test_saddle_gradient_passes_against_fd_and_second_sources(a):
    point = saddle.saddle_case(a)
    assert gb.check("numpy", "fd", *point, model="saddle").passed
    assert gb.check("numpy", "complex-step", *point, model="saddle").difference < 1e-12
    for second in ("torch", "jax"):
        if installed(second):
            assert gb.check("numpy", second, *point, model="saddle").difference < 1e-12


def test_saddle_inner_forward_mode_differentiates_the_same_cost():
    point = saddle.saddle_case((0.3, -0.7))
    for second in ("torch", "jax"):
        if installed(second):
            assert gb.check("numpy", second, *point, model=saddle.model_for("forward")).difference < 1e-12


def test_saddle_planted_bug_is_named():
    result = gb.check("numpy-buggy", "fd", *saddle.saddle_case(), model="saddle")
    assert not result.passed and result.culprits == ["a"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", saddle.MODES)
def test_saddle_jax_reaches_gradbenchs_answer_in_every_mode(mode):
    pytest.importorskip("jax")
    assert passes(saddle.solve("jax", mode), SADDLE_EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["rr"])  # rf and fr descents take minutes: their outer gradients are checked below
def test_saddle_torch_reaches_gradbenchs_answer(mode):
    pytest.importorskip("torch")
    assert passes(saddle.solve("torch", mode), SADDLE_EXPECTED)


@pytest.mark.parametrize("mode", ["rf", "fr"])
def test_saddle_torch_gives_gradbenchs_outer_gradient_in_the_forward_modes(mode):
    pytest.importorskip("torch")
    outer, inner = ("reverse" if letter == "r" else "forward" for letter in mode)
    _, start, _ = saddle.saddle_case()
    gradient = descent.source_gradient("torch", saddle.model_for(inner), "a", outer, start)
    for a in (np.array([1.0, 1.0]), np.array([0.3, -0.7])):
        assert passes(gradient(a), 2.0 * a)  # d/da of |a|^2 - |b*|^2, b* fixed by a start that does not move


def test_saddle_torch_ff_is_unavailable():
    pytest.importorskip("torch")
    with pytest.raises(InputError, match="Nested forward mode"):
        saddle.solve("torch", "ff")


# ---------------------------------------------------------------------------------------------------- the solver


def test_the_solver_is_refused_past_its_limit_and_jax_gives_nan_there():
    def objective(x):
        return (x * x).sum()

    def gradient(x):
        return 2.0 * x

    with pytest.raises(InputError, match="did not stop within 5 steps"):
        descent.argmin(objective, gradient, np.ones(2), limit=5)
    jnp = pytest.importorskip("jax.numpy")
    from gradcheck_bench.frameworks.jax import x64_scope

    with x64_scope():
        assert np.isnan(np.asarray(descent.argmin(objective, gradient, jnp.ones(2), jnp, limit=5))).all()
        finished = np.asarray(descent.argmin(objective, gradient, jnp.ones(2), jnp))
    np.testing.assert_allclose(finished, descent.argmin(objective, gradient, np.ones(2)), rtol=1e-9)
