"""Each framework at its best: a model's native versions of its function, jax compiled, torch.compile.

A model may declare its function written natively for torch or jax (``Model.framework_functions``);
the autograd sources differentiate that version, and the xp function stays the reference: every
native version is checked here against the xp function's values on NumPy, at the model's cases.
Gradients are checked against the hand-written NumPy backprop, an independent implementation.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.errors import InputError, SourceError
from gradcheck_bench.models import get_model, model_names
from gradcheck_bench.models.linear1d import linear1d_case
from gradcheck_bench.models.lstm import lstm_point

NATIVE = [(name, framework, case) for name in model_names() for framework in get_model(name).framework_functions
          for case in get_model(name).cases]


def relative_difference(ours: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> float:
    flat = np.concatenate([np.ravel(ours[name]) for name in reference])
    expected = np.concatenate([np.ravel(value) for value in reference.values()])
    return float(np.linalg.norm(flat - expected) / np.linalg.norm(expected))


def native_value(framework: str, function, params, X, Y) -> np.ndarray:
    """The native function's value at a NumPy point, given that framework's float64 arrays."""
    if framework == "torch":
        torch = pytest.importorskip("torch")
        from gradcheck_bench.frameworks.torch import to_torch

        with torch.no_grad():
            return function(to_torch(params), to_torch(X), to_torch(Y)).numpy()
    pytest.importorskip("jax")
    from gradcheck_bench.frameworks.jax import to_jax, x64_scope

    with x64_scope():
        return np.asarray(function(to_jax(params), to_jax(X), to_jax(Y)))


# --------------------------------------------------------------------------
# The native versions agree with the xp function, the reference
# --------------------------------------------------------------------------


def test_the_lstm_declares_a_jax_and_a_torch_version():
    assert set(get_model("lstm").framework_functions) == {"jax", "torch"}
    assert any(framework == "jax" for _, framework, _ in NATIVE)


@pytest.mark.parametrize("name, framework, case", NATIVE)
def test_each_native_version_gives_the_xp_functions_values_at_every_case(name, framework, case):
    model = get_model(name)
    params, X, Y = model.cases[case]()
    expected = np.asarray(model.function(params, X, Y))  # the xp function on NumPy
    found = native_value(framework, model.framework_functions[framework], params, X, Y)
    assert found.shape == expected.shape
    np.testing.assert_allclose(found, expected, rtol=1e-12, atol=0)


def test_a_native_version_differs_from_the_xp_function_where_the_point_differs():
    # the agreement above is not a constant: another point gives another value, in both
    model = get_model("lstm")
    first, second = lstm_point(1, 5, b=3, seed=0), lstm_point(1, 5, b=3, seed=1)
    values = [native_value("jax", model.framework_functions["jax"], *point) for point in (first, second)]
    assert values[0] != values[1]
    np.testing.assert_allclose(values, [model.function(*first), model.function(*second)], rtol=1e-12)


def test_a_derived_model_leaves_the_native_versions_behind():
    model = get_model("lstm")
    assert model.native_function("jax") is model.framework_functions["jax"]
    doubled = lambda params, X, Y, xp=np: 2 * model.cost(params, X, Y, xp)  # noqa: E731
    other = replace(model, cost=doubled, function=doubled)  # as a wrapped or projected model is derived
    assert other.native_function("jax") is None and other.native_function("torch", output=True) is None
    only_cost = replace(model, cost=doubled)  # the function is still the one the native versions reproduce
    assert only_cost.native_function("jax") is None
    assert only_cost.native_function("jax", output=True) is model.framework_functions["jax"]
    assert replace(model, name="renamed").native_function("torch") is model.framework_functions["torch"]


def test_a_native_version_of_the_output_is_not_taken_for_a_separate_cost():
    softmax = get_model("softmax")
    given = gb.Model(name="two", cost=softmax.cost, function=softmax.function,
                     framework_functions={"jax": lambda params, X, Y: None})
    assert given.native_function("jax", output=True) is not None
    assert given.native_function("jax") is None  # the cost is another function: its xp version is used


@pytest.mark.parametrize("given, said", [
    ({"pytorch": lambda params, X, Y: 0.0}, "'pytorch'; the frameworks are 'torch', 'jax'"),
    ({"jax": "lstm_cost_jax"}, "must be a callable f(params, X, Y) on jax arrays"),
    ([("jax", len)], "must be a dict framework -> function"),
])
def test_bad_framework_functions_are_named(given, said):
    with pytest.raises(InputError, match="framework_functions") as raised:
        gb.Model(name="bad", cost=get_model("lstm").cost, framework_functions=given)
    assert said in str(raised.value)


# --------------------------------------------------------------------------
# jax: compiled, compile time apart
# --------------------------------------------------------------------------


def test_jax_differentiates_adbench_lstm_compiled_and_agrees_with_the_numpy_backprop():
    pytest.importorskip("jax")
    from gradcheck_bench.sources.jax_autograd import JaxAutograd

    model = get_model("lstm")
    params, X, Y = model.cases["lstm-adbench-l2-c1024"]()
    source = JaxAutograd(model)
    gradient = source(params, X, Y)
    assert not gradient.notes  # compiled: no "run without jit" note
    assert source.compile_seconds > 0
    assert relative_difference(gradient, model.gradient(params, X, Y)) < 1e-10
    compiled = source.compile_seconds
    source(*lstm_point(2, 1024, seed=5))  # the same shapes: steady state, nothing compiled again
    assert source.compile_seconds == compiled


def test_jax_kinds_run_through_the_native_version():
    pytest.importorskip("jax")
    params, X, Y = lstm_point(2, 7, seed=4)
    result = gb.check("jax", "fd", params, X, Y, model="lstm", derivative="hvp")
    assert result.passed


def test_torch_differentiates_the_native_lstm_like_the_numpy_backprop():
    pytest.importorskip("torch")
    params, X, Y = lstm_point(2, 40, seed=6)
    found = gb.gradient("torch", params, X, Y, model="lstm")
    assert relative_difference(found, get_model("lstm").gradient(params, X, Y)) < 1e-12


def test_compare_times_steady_state_apart_from_compile_time():
    pytest.importorskip("jax")
    from gradcheck_bench.check import prepare
    from gradcheck_bench.tools.compare import measure

    params, X, Y = lstm_point(2, 30, seed=7)
    prepared = prepare(("jax",), params, X, Y, model="lstm")
    measured = measure(prepared.sources[0], "jax", prepared.point, repeats=3, repeat_seconds=10.0)
    assert measured.compile_seconds > 0 and measured.repeats == 3
    assert measured.seconds < measured.first_call_seconds
    prepared = prepare(("jax",), params, X, Y, model="lstm")
    cold = measure(prepared.sources[0], "jax", prepared.point, repeats=1, repeat_seconds=0.0)
    assert cold.repeats == 0  # no warm call: the steady time is the first call's less its compile
    assert math.isclose(cold.seconds, cold.first_call_seconds - cold.compile_seconds)


# --------------------------------------------------------------------------
# torch-compile: the right gradient, or the reason it cannot give one
# --------------------------------------------------------------------------


def test_torch_compile_gives_the_right_gradient_on_a_small_model_with_compile_time_apart():
    pytest.importorskip("torch")
    from gradcheck_bench.sources.torch_compile import missing_cpp_compiler

    if missing_cpp_compiler():
        assert "torch-compile" not in gb.available_sources("softmax")
        with pytest.raises(SourceError, match="C\\+\\+ compiler"):
            gb.gradient("torch-compile", *get_model("softmax").cases["softmax-k5-d4-m6"](), model="softmax")
        return
    from gradcheck_bench.sources.registry import build_source

    model = get_model("softmax")
    params, X, Y = model.cases["softmax-k5-d4-m6"]()
    source = build_source("torch-compile", model)
    assert source.compile_seconds == 0.0
    assert relative_difference(source(params, X, Y), model.gradient(params, X, Y)) < 1e-13
    compiled = source.compile_seconds
    assert compiled > 0
    moved = {name: value + 0.25 for name, value in params.items()}  # same shapes: no compile, the new values
    assert relative_difference(source(moved, X, Y), model.gradient(moved, X, Y)) < 1e-13
    assert source.compile_seconds == compiled


def test_torch_compile_says_why_it_does_not_compile_a_long_loop():
    pytest.importorskip("torch")
    params, X, Y = get_model("lstm").cases["lstm-adbench-l2-c1024"]()
    with pytest.raises(SourceError, match="more than 10,000 torch operations .*use the eager torch source"):
        gb.gradient("torch-compile", params, X, Y, model="lstm")


def test_torch_compile_without_a_cpp_compiler_is_unavailable_with_the_reason(monkeypatch):
    pytest.importorskip("torch")
    from gradcheck_bench.sources.registry import build_source
    from gradcheck_bench.tools.compare import compare_sources

    monkeypatch.setenv("PATH", os.devnull)
    monkeypatch.delenv("CXX", raising=False)
    assert "torch-compile" not in gb.available_sources("linear1d")
    with pytest.raises(SourceError, match="no C\\+\\+ compiler .* install one"):
        build_source("torch-compile", get_model("linear1d"))
    report = compare_sources(["linear1d"], ["torch-compile"], ["fd"], repeats=1, show_progress=False)
    [row] = report.table.to_dict("records")
    assert row["verdict"] == "UNAVAILABLE" and "unavailable here: torch.compile on the CPU" in row["message"]


def test_compare_shows_torch_compiles_refusal_as_unavailable_with_the_reason():
    pytest.importorskip("torch")
    from gradcheck_bench.tools.compare import compare_sources

    report = compare_sources(["lstm-adbench-l2-c1024"], ["numpy", "torch-compile"], ["torch"], repeats=1,
                             show_progress=False)
    verdicts = dict(zip(report.table["candidate"], report.table["verdict"]))
    assert verdicts == {"numpy": "PASS", "torch-compile": "UNAVAILABLE"}
    message = report.table.set_index("candidate").loc["torch-compile", "message"]
    assert "more than 10,000 torch operations" in message


def test_linear1d_exact_through_torch_compile():
    pytest.importorskip("torch")
    from gradcheck_bench.sources.torch_compile import missing_cpp_compiler

    if missing_cpp_compiler():
        pytest.skip(missing_cpp_compiler())
    gradient = gb.gradient("torch-compile", *linear1d_case(x=-3.25, theta=0.5), model="linear1d")
    assert gradient["theta"] == pytest.approx(-3.25, abs=0)  # d(theta x)/d theta = x, exactly


def test_torch_compile_and_the_native_versions_leave_every_setting_as_it_was():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    from gradcheck_bench.sources.torch_compile import missing_cpp_compiler
    from test_side_effects import run

    if missing_cpp_compiler():
        pytest.skip(missing_cpp_compiler())
    out = run(r'''
import torch, jax
import sympy  # torch.compile imports it, and sympy's import adds a warnings filter: an import's, not the check's
import gradcheck_bench as gb
from gradcheck_bench.models.lstm import lstm_point
torch.ones(3) @ torch.ones(3)
before = snapshot()
gb.check("numpy", "torch-compile", *gb.get_model("softmax").cases["softmax-k5-d4-m6"](), model="softmax")
gb.check("numpy", "jax", *lstm_point(2, 9, seed=0), model="lstm")
gb.check("numpy", "torch", *lstm_point(2, 9, seed=0), model="lstm")
after = snapshot()
print("same" if before == after else json.dumps({k: (before.get(k), after.get(k)) for k in before
                                                 if before.get(k) != after.get(k)}))
''')
    assert out == "same", out
