"""The values a torch or jax user already holds: pytrees, tensors and Parameters, jax arrays, complex, float16.

Each layout passes with a correct gradient and fails with a planted 2x, naming the tensor by its path.
Every expected gradient here is written by hand or taken from a framework's autograd, never from the
code under test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.errors import InputError

RNG = np.random.default_rng(7)


# --------------------------------------------------------------------------------------------------
# A flax-style nested dict
# --------------------------------------------------------------------------------------------------

def flax_cost(p, X, Y, xp=np):
    hidden = xp.tanh(X @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    return xp.mean((hidden @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"] - Y) ** 2)


def flax_gradient(p, X, Y):
    hidden = np.tanh(X @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])     # forward, layer 0
    out = hidden @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]            # forward, layer 1
    d_out = 2 * (out - Y) / out.size                                        # reverses the mean of squares
    d_hidden = d_out @ p["Dense_1"]["kernel"].T * (1 - hidden**2)           # reverses layer 1, then tanh
    return {"Dense_0": {"kernel": X.T @ d_hidden, "bias": d_hidden.sum(0)},
            "Dense_1": {"kernel": hidden.T @ d_out, "bias": d_out.sum(0)}}


def flax_point():
    params = {"Dense_0": {"kernel": RNG.normal(size=(3, 4)), "bias": RNG.normal(size=4)},
              "Dense_1": {"kernel": RNG.normal(size=(4, 2)), "bias": RNG.normal(size=2)}}
    return params, RNG.normal(size=(10, 3)), RNG.normal(size=(10, 2))


FLAX = gb.Model(name="flax-mlp", cost=flax_cost, gradient=flax_gradient)


def test_a_nested_dict_passes_and_a_planted_2x_is_named_by_its_path():
    params, X, Y = flax_point()
    result = gb.check("numpy", "fd", params, X, Y, model=FLAX)
    assert result.passed, result.summary()
    assert list(result.rows) == ["Dense_0/kernel", "Dense_0/bias", "Dense_1/kernel", "Dense_1/bias"]

    def doubled(p, X, Y):
        gradient = flax_gradient(p, X, Y)
        gradient["Dense_1"]["bias"] = 2 * gradient["Dense_1"]["bias"]
        return gradient

    failed = gb.check(doubled, "fd", params, X, Y, model=FLAX)
    assert not failed.passed and failed.culprits == ["Dense_1/bias"]
    assert failed.rows["Dense_1/bias"]["scale"] == pytest.approx(2.0)


def test_a_nested_dict_gradient_may_come_back_flat_by_path_name():
    params, X, Y = flax_point()
    flat = {"Dense_0/kernel": None, "Dense_0/bias": None, "Dense_1/kernel": None, "Dense_1/bias": None}
    tree = flax_gradient(params, X, Y)
    flat = {name: tree[name.split("/")[0]][name.split("/")[1]] for name in flat}
    assert gb.check(lambda p, X, Y: flat, "fd", params, X, Y, model=FLAX).passed


# --------------------------------------------------------------------------------------------------
# A list of (W, b) tuples
# --------------------------------------------------------------------------------------------------

def layers_cost(layers, X, Y, xp=np):
    activation = X
    for W, b in layers[:-1]:
        activation = xp.tanh(activation @ W + b)
    W, b = layers[-1]
    return xp.mean((activation @ W + b - Y) ** 2)


def layers_gradient(layers, X, Y):
    (W0, b0), (W1, b1) = layers
    hidden = np.tanh(X @ W0 + b0)                         # forward, layer 0
    out = hidden @ W1 + b1                                # forward, layer 1
    d_out = 2 * (out - Y) / out.size                      # reverses the mean of squares
    d_hidden = d_out @ W1.T * (1 - hidden**2)             # reverses layer 1, then tanh
    return [(X.T @ d_hidden, d_hidden.sum(0)), (hidden.T @ d_out, d_out.sum(0))]


LAYERS = gb.Model(name="layers", cost=layers_cost, gradient=layers_gradient)


def test_a_list_of_tuples_passes_and_a_planted_2x_is_named_by_its_path():
    layers = [(RNG.normal(size=(3, 5)), RNG.normal(size=5)), (RNG.normal(size=(5, 1)), RNG.normal(size=1))]
    X, Y = RNG.normal(size=(7, 3)), RNG.normal(size=(7, 1))
    assert gb.check("numpy", "fd", layers, X, Y, model=LAYERS).passed

    def doubled(layers, X, Y):
        (dW0, db0), (dW1, db1) = layers_gradient(layers, X, Y)
        return [(dW0, db0), (2 * dW1, db1)]

    failed = gb.check(doubled, "fd", layers, X, Y, model=LAYERS)
    assert not failed.passed and failed.culprits == ["1/0"]


# --------------------------------------------------------------------------------------------------
# A torch nn.Sequential, checked through named_parameters
# --------------------------------------------------------------------------------------------------

def torch_net():
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    X = torch.randn(8, 3, dtype=torch.float64, generator=generator)
    Y = torch.randn(8, 1, dtype=torch.float64, generator=generator)

    def cost(params, X, Y):  # torch only: no xp argument
        return torch.mean((torch.func.functional_call(net, params, (X,)) - Y) ** 2)

    return torch, net, X, Y, gb.Model(name="net", cost=cost)


def test_a_torch_module_checked_through_named_parameters():
    torch, net, X, Y, model = torch_net()
    params = dict(net.named_parameters())
    before = {name: (value.detach().clone(), value.dtype, value.requires_grad, value.device, type(value))
              for name, value in params.items()}
    assert gb.check("torch", "fd", params, X, Y, model=model).passed

    def doubled(params, X, Y):  # the gradient as torch tensors, one of them doubled
        gradient = torch.func.grad(lambda p: model.cost(p, X, Y))(params)
        return {**gradient, "2.weight": 2 * gradient["2.weight"]}

    failed = gb.check(doubled, "fd", params, X, Y, model=model)
    assert not failed.passed and failed.culprits == ["2.weight"]
    for name, value in params.items():  # the caller's Parameters as they were, with no .grad left behind
        old, dtype, requires_grad, device, kind = before[name]
        assert torch.equal(value.detach(), old) and value.dtype == dtype and value.requires_grad == requires_grad
        assert value.device == device and type(value) is kind and value.grad is None


# --------------------------------------------------------------------------------------------------
# jax arrays
# --------------------------------------------------------------------------------------------------

def test_jax_arrays_pass_and_a_planted_2x_is_named():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    def cost(p, X, Y, xp=np):
        return xp.sum(xp.log1p(xp.exp(X @ p["w"] + p["b"])) - Y * (X @ p["w"] + p["b"]))

    model = gb.Model(name="logistic", cost=cost)
    X, Y = RNG.normal(size=(9, 3)), (RNG.random(9) < 0.5).astype(float)
    with jax.enable_x64(True):
        params = {"w": jnp.asarray(RNG.normal(size=3)), "b": jnp.asarray(0.25)}
        correct = jax.grad(lambda p: cost(p, X, Y, xp=jnp))(params)
        assert gb.check(lambda p, X, Y: correct, "fd", params, X, Y, model=model).passed
        assert gb.check("jax", "fd", params, X, Y, model=model).passed
        doubled = {"w": correct["w"], "b": 2 * correct["b"]}
        failed = gb.check(lambda p, X, Y: doubled, "fd", params, X, Y, model=model)
        assert type(params["w"]) is type(correct["w"]) and params["w"].dtype == jnp.float64
    assert not failed.passed and failed.culprits == ["b"]


# --------------------------------------------------------------------------------------------------
# Complex parameters: torch's convention dL/dRe z + i dL/dIm z
# --------------------------------------------------------------------------------------------------

def least_squares(p, A, b, xp=np):
    residual = A @ p["z"] - b
    return xp.sum(xp.real(residual) ** 2 + xp.imag(residual) ** 2) + xp.sum(p["s"] ** 2)


def least_squares_gradient(p, A, b):
    """For L = |A z - b|^2: dL/dRe z + i dL/dIm z = 2 A^H (A z - b)."""
    return {"z": 2 * A.conj().T @ (A @ p["z"] - b), "s": 2 * p["s"]}


COMPLEX = gb.Model(name="complex-lsq", cost=least_squares, gradient=least_squares_gradient)


def complex_point():
    A = RNG.normal(size=(6, 3)) + 1j * RNG.normal(size=(6, 3))
    b = RNG.normal(size=6) + 1j * RNG.normal(size=6)
    return {"z": RNG.normal(size=3) + 1j * RNG.normal(size=3), "s": RNG.normal(size=2)}, A, b


@pytest.mark.parametrize("reference", ["fd", "richardson", "torch", "jax"])
def test_a_complex_gradient_in_torchs_convention_passes(reference):
    if reference in ("torch", "jax"):
        pytest.importorskip(reference)
    params, A, b = complex_point()
    assert gb.check("numpy", reference, params, A, b, model=COMPLEX).passed


def test_a_complex_gradient_with_its_imaginary_sign_flipped_fails_naming_the_tensor():
    params, A, b = complex_point()

    def conjugated(p, A, b):
        gradient = least_squares_gradient(p, A, b)
        return {**gradient, "z": np.conj(gradient["z"])}

    failed = gb.check(conjugated, "fd", params, A, b, model=COMPLEX)
    assert not failed.passed and failed.culprits == ["z"]


def test_complex_step_says_it_cannot_differentiate_complex_parameters():
    params, A, b = complex_point()
    with pytest.raises(gb.SourceError, match="complex-step.*complex"):
        gb.check("numpy", "complex-step", params, A, b, model=COMPLEX)


# --------------------------------------------------------------------------------------------------
# Scalars and low precision
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("theta", [2.0, np.float64(2.0), np.float32(2.0)])
def test_scalar_leaves_are_parameters(theta):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gb.LowPrecisionWarning)
        assert gb.check(lambda p, X, Y: {"theta": 3.0}, "fd", {"theta": theta}, 3.0, None, model="linear1d").passed
        assert not gb.check(lambda p, X, Y: {"theta": 6.0}, "fd", {"theta": theta}, 3.0, None,
                            model="linear1d").passed


def test_float16_parameters_with_a_wider_cost_do_not_false_fail():
    def cost(p, X, Y, xp=np):
        return xp.sum(xp.tanh(X @ p["w"].astype(np.float64)) ** 2)

    def gradient(p, X, Y):  # computed in float64, returned in the parameters' float16
        t = np.tanh(X @ p["w"].astype(np.float64))
        return {"w": (X.T @ (2 * t * (1 - t**2))).astype(np.float16)}

    model = gb.Model(name="half", cost=cost)
    X = RNG.normal(size=(5, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gb.LowPrecisionWarning)
        for seed in range(5):
            params = {"w": np.random.default_rng(seed).normal(size=4).astype(np.float16)}
            assert gb.check(gradient, "fd", params, X, None, model=model).passed
            wrong = gb.check(lambda p, X, Y: {"w": 1.1 * gradient(p, X, Y)["w"]}, "fd", params, X, None, model=model)
            assert not wrong.passed and wrong.culprits == ["w"]


def test_the_callers_numpy_arrays_are_untouched():
    params, X, Y = flax_point()
    snapshot = {layer: {name: value.copy() for name, value in tensors.items()} for layer, tensors in params.items()}

    def vandal(p, X, Y):  # a candidate that writes to what it is given
        gradient = flax_gradient(p, X, Y)
        p["Dense_0"]["kernel"][...] = 0.0
        X[...] = 0.0
        return gradient

    gb.check(vandal, "fd", params, X, Y, model=FLAX)
    for layer, tensors in snapshot.items():
        for name, value in tensors.items():
            assert np.array_equal(params[layer][name], value) and params[layer][name].dtype == value.dtype
    assert np.any(X != 0)


# --------------------------------------------------------------------------------------------------
# torch-style tolerances
# --------------------------------------------------------------------------------------------------

def test_atol_rtol_judge_element_by_element_where_the_threshold_fails():
    params, X, Y = gb.seed_case()
    exact = gb.gradient("torch" if _has("torch") else "complex-step", params, X, Y)
    nudged = {name: value * (1 + 1e-5) for name, value in exact.items()}  # 1e-5 relative everywhere
    strict = gb.check(lambda p, X, Y: nudged, exact, params, X, Y)
    assert not strict.passed and strict.difference > gb.DEFAULT_THRESHOLD
    loose = gb.check(lambda p, X, Y: nudged, exact, params, X, Y, atol=1e-5, rtol=1e-3)
    assert loose.passed and loose.failing_elements == 0
    assert np.allclose(np.concatenate([np.ravel(nudged[n]) for n in params]),
                       np.concatenate([np.ravel(exact[n]) for n in params]), atol=1e-5, rtol=1e-3)


def test_atol_rtol_name_the_tensor_with_elements_beyond_them():
    result = gb.check("numpy-buggy", "fd", *gb.seed_case(), atol=1e-5, rtol=1e-3)
    assert not result.passed and set(result.culprits) == {"W2", "b1"}
    assert result.failing_elements == sum(result.rows[name]["failing"] for name in result.rows)


def test_atol_alone_takes_torch_gradchecks_rtol_and_mixing_with_threshold_is_refused():
    result = gb.check("numpy", "fd", *gb.seed_case(), atol=1e-5)
    assert result.passed and (result.atol, result.rtol) == (1e-5, 1e-3)
    with pytest.raises(InputError, match="either threshold= .* or atol=/rtol="):
        gb.check("numpy", "fd", *gb.seed_case(), threshold=1e-6, atol=1e-5)


def test_an_unknown_option_names_the_options_that_exist():
    with pytest.raises(InputError, match=r"tolerance.*fd takes .*eps.*check\(\) itself takes threshold=, atol="):
        gb.check("numpy", "fd", *gb.seed_case(), tolerance=1e-5)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
