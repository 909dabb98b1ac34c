"""Derivatives, not only gradients: Jacobians, JVPs, VJPs and Hessian-vector products through the one judge.

Every kind passes with a correct candidate and fails with a planted bug against at least two references,
naming the tensor, its element and, for a Jacobian, the output index. The planted bugs are known by
construction (the softmax layer's bias path without its cross term, custom rules with a wrong factor),
never read off the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.errors import InputError, SourceError
from gradcheck_bench.models.mlp import random_case

SOFTMAX = gb.get_model("softmax")
KINDS = ["gradient", "jacobian", "jvp", "vjp", "hvp"]


def softmax_point():
    return SOFTMAX.cases["softmax-k5-d4-m6"]()


def references(kind: str) -> list[str]:
    found = ["fd"]
    for framework in ("torch", "jax"):
        try:
            __import__(framework)
            found.append(framework)
        except ImportError:
            pass
    if kind != "hvp":
        found.append("complex-step")
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_passes_with_the_hand_written_derivative(kind):
    refs = references(kind)
    assert len(refs) >= 2
    for reference in refs:
        result = gb.check("numpy", reference, *softmax_point(), model="softmax", derivative=kind)
        assert result.passed, result.summary()
        assert result.derivative == kind


@pytest.mark.parametrize("kind", ["gradient", "jacobian", "vjp", "hvp"])
def test_every_kind_names_the_planted_bias_bug(kind):
    for reference in references(kind):
        result = gb.check("numpy-buggy", reference, *softmax_point(), model="softmax", derivative=kind)
        assert not result.passed and result.culprits == ["b"], result.summary()


def test_a_jacobian_mismatch_names_the_output_index_and_the_element():
    params, X, Y = softmax_point()
    result = gb.check("numpy-buggy", "fd", params, X, Y, model="softmax", derivative="jacobian")
    row = result.rows["b"]
    output_index, element = row["worst_index"][:2], row["worst_index"][2:]
    # the planted Jacobian of b is S_i delta_ij instead of S_i (delta_ij - S_j): off by S_i S_j, largest where
    # that product is; computed here from the softmax output itself
    S = np.exp(params["W"] @ X + params["b"][:, None])
    S /= S.sum(axis=0)
    error = S[:, :, None] * S.T[None, :, :]                  # [i, m, j] = S_im S_jm
    expected = np.unravel_index(np.argmax(error), error.shape)
    assert tuple(output_index) + tuple(element) == tuple(int(i) for i in expected)
    assert f"at output {list(output_index)}, element {list(element)}" in result.summary()


def test_a_failing_jvp_names_the_output_and_the_tensor_whose_tangent_exposes_it():
    for reference in references("jvp")[:2]:
        result = gb.check("numpy-buggy", reference, *softmax_point(), model="softmax", derivative="jvp")
        assert not result.passed and result.culprits == ["output"]
        assert result.exposed_by == ("b",)
        assert "the mismatch shows along b" in result.summary()


def test_the_probe_is_seeded_shared_and_recorded():
    params, X, Y = softmax_point()
    seen = []

    def candidate(params, X, Y, cotangent):
        seen.append(np.array(cotangent))
        return SOFTMAX.derivatives["vjp"](params, X, Y, cotangent)

    first = gb.check(candidate, "fd", params, X, Y, model="softmax", derivative="vjp", seed=3)
    again = gb.check(candidate, "fd", params, X, Y, model="softmax", derivative="vjp", seed=3)
    other = gb.check(candidate, "fd", params, X, Y, model="softmax", derivative="vjp", seed=4)
    assert first.passed and first.seed == 3
    assert np.array_equal(seen[0], first.probe["output"]) and np.array_equal(seen[0], seen[1])
    assert not np.array_equal(seen[0], seen[2]) and other.seed == 4


def test_a_given_tangent_is_used_as_given():
    params, X, Y = softmax_point()
    tangent = {"W": np.zeros_like(params["W"]), "b": np.ones_like(params["b"])}
    result = gb.check("numpy-buggy", "fd", params, X, Y, model="softmax", derivative="jvp", tangent=tangent)
    assert not result.passed and result.seed is None
    assert np.array_equal(result.probe["b"], tangent["b"])
    along_W = {"W": np.random.default_rng(5).standard_normal(params["W"].shape), "b": np.zeros_like(params["b"])}
    assert gb.check("numpy-buggy", "fd", params, X, Y, model="softmax", derivative="jvp", tangent=along_W).passed


def test_the_derivative_itself_is_returned_and_serves_as_a_reference():
    params, X, Y = softmax_point()
    jacobian = gb.gradient("fd", params, X, Y, model="softmax", derivative="jacobian")
    assert jacobian["W"].shape == (5, 6, 5, 4) and jacobian["b"].shape == (5, 6, 5)
    assert gb.check("numpy", jacobian, params, X, Y, model="softmax", derivative="jacobian").passed


def test_a_kind_a_source_cannot_give_lists_the_sources_that_can():
    with pytest.raises(SourceError, match=r"'complex-step' does not give the hvp.*sources that do: .*fd"):
        gb.check("numpy", "complex-step", *softmax_point(), model="softmax", derivative="hvp")
    with pytest.raises(InputError, match="unknown derivative 'hessian'; choose one of gradient, jacobian"):
        gb.check("numpy", "fd", *softmax_point(), model="softmax", derivative="hessian")
    with pytest.raises(InputError, match="tangent= is not used by the vjp kind; it takes cotangent="):
        gb.check("numpy", "fd", *softmax_point(), model="softmax", derivative="vjp", tangent={})


def test_a_function_of_any_output_needs_no_scalar_cost():
    def layer(params, X, Y, xp=np):
        return xp.tanh(params["W"] @ X + params["b"])

    def jacobian(params, X, Y):
        T = np.tanh(params["W"] @ X + params["b"])
        d = 1 - T**2                                                          # [i, m]
        eye = np.eye(params["W"].shape[0])
        return {"W": d[:, :, None, None] * eye[:, None, :, None] * X.T[None, :, None, :],
                "b": d[:, :, None, None] * eye[:, None, :, None] * np.ones((1, X.shape[1], 1, 1))}

    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal((3, 1))}
    X = rng.standard_normal((2, 4))
    model = gb.Model(name="tanh-layer", function=layer)
    assert gb.check(jacobian, "fd", params, X, None, model=model, derivative="jacobian").passed
    doubled = lambda p, X, Y: {**jacobian(p, X, Y), "b": 2 * jacobian(p, X, Y)["b"]}  # noqa: E731
    assert gb.check(doubled, "fd", params, X, None, model=model, derivative="jacobian").culprits == ["b"]


# --------------------------------------------------------------------------------------------------
# The fraud MLP's hand-written Hessian-vector product
# --------------------------------------------------------------------------------------------------

def test_the_mlps_hand_written_hvp_passes_and_its_forgotten_term_is_named():
    for reference in references("hvp"):
        assert gb.check("numpy", reference, *gb.seed_case(), derivative="hvp").passed
        failed = gb.check("numpy-buggy", reference, *gb.seed_case(), derivative="hvp")
        assert not failed.passed and failed.culprits == ["W2", "W3"], failed.summary()


def test_the_mlps_hvp_on_a_wider_relu_net_does_not_false_fail():
    assert gb.check("numpy", "fd", *random_case((4, 60, 60, 1), 40, 3), derivative="hvp").passed


# --------------------------------------------------------------------------------------------------
# Custom rules: torch autograd.Function, jax custom_vjp and custom_jvp
# --------------------------------------------------------------------------------------------------

def torch_cube_model(backward_factor: float = 3.0, jvp_factor: float = 3.0):
    torch = pytest.importorskip("torch")

    class Cube(torch.autograd.Function):
        """x ** 3 with hand-written reverse and forward rules (3 x^2 when the factors are 3)."""

        @staticmethod
        def forward(x):
            return x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.save_for_forward(inputs[0])

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return backward_factor * x**2 * grad

        @staticmethod
        def jvp(ctx, tangent):
            (x,) = ctx.saved_tensors
            return jvp_factor * x**2 * tangent

    def function(params, X, Y, xp=np):
        w = params["w"]
        cubed = Cube.apply(w) if isinstance(w, torch.Tensor) else w**3
        return X @ cubed + params["c"]

    return gb.Model(name="cube", function=function)


def cube_point():
    rng = np.random.default_rng(1)
    return {"w": rng.standard_normal(3), "c": rng.standard_normal(2)}, rng.standard_normal((2, 3)), None


@pytest.mark.parametrize("kind", ["jacobian", "vjp"])
def test_a_torch_function_with_a_wrong_backward_fails_naming_the_tensor(kind):
    assert gb.check("torch", "fd", *cube_point(), model=torch_cube_model(), derivative=kind).passed
    assert gb.check("torch", "complex-step", *cube_point(), model=torch_cube_model(), derivative=kind).passed
    for reference in ("fd", "complex-step"):
        failed = gb.check("torch", reference, *cube_point(), model=torch_cube_model(backward_factor=2.0),
                          derivative=kind)
        assert not failed.passed and failed.culprits == ["w"], failed.summary()


def test_a_torch_function_with_a_wrong_jvp_fails_in_forward_mode_only():
    assert gb.check("torch", "fd", *cube_point(), model=torch_cube_model(), derivative="jvp").passed
    wrong = torch_cube_model(jvp_factor=2.0)
    for reference in ("fd", "complex-step"):
        failed = gb.check("torch", reference, *cube_point(), model=wrong, derivative="jvp")
        assert not failed.passed and failed.culprits == ["output"] and failed.exposed_by == ("w",)
    assert gb.check("torch", "fd", *cube_point(), model=wrong, derivative="vjp").passed


def jax_sine_model(rule: str, factor: float):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    if rule == "vjp":
        @jax.custom_vjp
        def sine(x):
            return jnp.sin(x)

        sine.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (factor * jnp.cos(x) * g,))
    else:
        @jax.custom_jvp
        def sine(x):
            return jnp.sin(x)

        sine.defjvp(lambda primals, tangents: (jnp.sin(primals[0]), factor * jnp.cos(primals[0]) * tangents[0]))

    def function(params, X, Y, xp=np):
        return X @ (sine(params["w"]) if xp is jnp else xp.sin(params["w"])) + params["c"]

    return gb.Model(name=f"sine-{rule}", function=function)


@pytest.mark.parametrize("rule, kind", [("vjp", "vjp"), ("vjp", "jacobian"), ("jvp", "jvp"), ("jvp", "vjp")])
def test_jax_custom_rules_are_what_is_checked(rule, kind):
    assert gb.check("jax", "fd", *cube_point(), model=jax_sine_model(rule, 1.0), derivative=kind).passed
    for reference in ("fd", "complex-step"):
        failed = gb.check("jax", reference, *cube_point(), model=jax_sine_model(rule, 1.5), derivative=kind)
        expected = ["output"] if kind == "jvp" else ["w"]
        assert not failed.passed and failed.culprits == expected, failed.summary()


# --------------------------------------------------------------------------------------------------
# Counted forward passes, and the gradient unchanged
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["jacobian", "jvp", "vjp"])
def test_fd_forward_passes_are_counted(kind):
    params, X, Y = softmax_point()
    n = sum(value.size for value in params.values())
    with gb.count_forward_passes() as counter:
        gb.gradient("fd", params, X, Y, model="softmax", derivative=kind, engine="loop")
    # a Jacobian: two per coordinate and one at the point; a JVP: two steps of two, one at the point (each);
    # a VJP: the gradient of u . f, two per coordinate and its point checks
    bounds = {"jacobian": (2 * n, 2 * n + 3), "jvp": (4, 7), "vjp": (2 * n, 2 * n + 4)}[kind]
    assert bounds[0] <= counter.passes <= bounds[1]


def test_the_seed_check_is_unchanged_by_derivative_kinds():
    result = gb.check("numpy", "fd", *gb.seed_case())
    assert result.derivative == "gradient" and result.probe is None and result.passed
    buggy = gb.check("numpy-buggy", "fd", *gb.seed_case())
    assert buggy.culprits == ["b1", "W2"] and buggy.difference == pytest.approx(0.2851, abs=1e-4)


# --------------------------------------------------------------------------------------------------
# The cheap mode
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gradient", "jacobian", "vjp", "hvp"])
def test_fast_mode_passes_in_a_few_forward_passes_and_falls_back_to_name_a_bug(kind):
    params, X, Y = SOFTMAX.cases["softmax-k10-d20-m30"]()
    n = sum(value.size for value in params.values())
    with gb.count_forward_passes() as fast:
        quick = gb.check("numpy", "fd", params, X, Y, model="softmax", derivative=kind, mode="fast")
    with gb.count_forward_passes() as full:
        gb.check("numpy", "fd", params, X, Y, model="softmax", derivative=kind)
    assert quick.passed and quick.notes[0].startswith("fast mode: 4 random projections")
    assert fast.passes <= 4 * 5 + 10 < 2 * n <= full.passes
    caught = gb.check("numpy-buggy", "fd", params, X, Y, model="softmax", derivative=kind, mode="fast")
    assert not caught.passed and caught.culprits == ["b"] and "a projection failed" in caught.notes[0]


def test_a_projections_jvp_takes_one_step_and_the_same_value():
    # the cheap mode judges projections on their values, so it asks the fd JVP for no error bar: the
    # second step (two more passes) goes, the value along the tangent is the full JVP's, bit for bit
    from gradcheck_bench.check import prepare
    from gradcheck_bench.kinds import Request

    prepared = prepare(("numpy", "fd"), *softmax_point(), model="softmax", derivative="jvp")
    reference, request = prepared.sources[1], prepared.request
    with gb.count_forward_passes() as bare:
        alone = reference.derivative_at(prepared.point, Request(request.kind, request.output, request.probe,
                                                                error_bars=False))
    with gb.count_forward_passes() as barred:
        full = reference.derivative_at(prepared.point, request)
    assert (bare.passes, barred.passes) == (2, 4)  # theta +- h v; and again at h / 2
    assert alone.error is None and full.error is not None
    assert np.array_equal(alone.tensors["output"], full.tensors["output"])


def test_fast_mode_against_autograd_checks_the_full_derivative_and_says_why():
    pytest.importorskip("torch")
    result = gb.check("numpy", "torch", *softmax_point(), model="softmax", derivative="jacobian", mode="fast")
    assert result.passed and "so the full jacobian was checked" in result.notes[0]


def test_the_command_line_checks_every_kind(capsys):
    from gradcheck_bench.cli import main

    point = ["--model", "softmax", "--case", "softmax-k5-d4-m6"]
    assert main(["check", *point, "--derivative", "jacobian"]) == 0
    assert main(["check", *point, "--derivative", "jacobian", "--candidate", "numpy-buggy"]) == 1
    assert "at output [" in capsys.readouterr().out
    assert main(["check", *point, "--derivative", "vjp", "--mode", "fast", "--seed-probe", "2"]) == 0
    assert "fast mode" in capsys.readouterr().out
