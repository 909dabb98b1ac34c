"""JAX autograd as a gradient source: agreement, float64 without global x64, compile caching, devices."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.linear1d import linear1d_case
from gradcheck_bench.models.mlp import random_case
from gradcheck_bench.errors import InputError
from gradcheck_bench.models import get_model

jax = pytest.importorskip("jax")

from gradcheck_bench.sources.jax_autograd import JaxAutograd  # noqa: E402

from autograd_points import POINTS  # noqa: E402


@pytest.mark.parametrize("point", POINTS, ids=list(POINTS))
def test_jax_and_numpy_agree_to_1e_12(point):
    result = gb.check("jax", "numpy", *POINTS[point]())
    assert result.difference <= 1e-12


@pytest.mark.parametrize("point", POINTS, ids=list(POINTS))
def test_jax_and_torch_agree_to_1e_12(point):
    pytest.importorskip("torch")
    result = gb.check("jax", "torch", *POINTS[point]())
    assert result.difference <= 1e-12


@pytest.mark.parametrize("point", POINTS, ids=list(POINTS))
def test_jax_agrees_with_fd_well_under_the_threshold(point):
    # Measured: at most 1.1e-10 on these points; the bound leaves 20x under the 2e-7 threshold.
    result = gb.check("jax", "fd", *POINTS[point]())
    assert result.difference < 1e-8


def test_the_planted_bugs_are_caught_by_jax_and_named():
    result = gb.check("numpy-buggy", "jax", *gb.seed_case())
    assert not result.passed
    assert sorted(result.culprits) == ["W2", "b1"]
    assert result.per_parameter.loc["W2", "scale"] == pytest.approx(2.0, abs=1e-12)
    assert result.per_parameter.loc["b1", "scale"] == pytest.approx(4.0, abs=1e-12)


def test_gradients_are_float64_numpy_in_parameter_order_even_from_float32_input():
    params, X, Y = gb.seed_case()
    params32 = {name: value.astype(np.float32) for name, value in params.items()}
    gradient = JaxAutograd(get_model("mlp"))(params32, X.astype(np.float32), Y)
    assert list(gradient) == list(params)  # not JAX's sorted-key order
    assert all(isinstance(g, np.ndarray) and g.dtype == np.float64 for g in gradient.values())
    # float64 all the way: a float32 computation would leave differences near 1e-7, not 1e-16.
    assert gb.check("jax", "numpy", params, X, Y).difference < 1e-15


def test_compiled_once_per_shape_and_compile_time_kept_apart():
    source = JaxAutograd(get_model("mlp"))
    params, X, Y = random_case((4, 8, 1), 5, 0)
    first_compile = source.warm_up(params, X, Y)
    assert first_compile > 0 and source.compile_seconds == first_compile
    assert source.warm_up(params, X, Y) == 0.0
    source(params, X, Y)
    source(*random_case((4, 8, 1), 5, 1))  # same shapes, other values: no new compile
    assert source.compile_seconds == first_compile
    source(*random_case((4, 8, 1), 6, 0))  # another m: one more compile
    assert source.compile_seconds > first_compile


def test_the_1d_model_gives_exactly_x():
    result = gb.check("jax", "numpy", *linear1d_case(x=-3.25, theta=0.5), model="linear1d")
    assert result.candidate_gradient["theta"] == -3.25 and result.difference == 0.0


def test_device_cpu_is_accepted_explicitly():
    assert gb.check("jax", "numpy", *gb.seed_case(), device="cpu").difference <= 1e-12


@pytest.mark.skipif(any(d.platform != "cpu" for d in jax.devices()), reason="this machine has an accelerator")
def test_a_missing_cuda_device_is_a_clear_error():
    with pytest.raises(InputError, match="JAX has no 'cuda' device here"):
        gb.check("jax", "numpy", *gb.seed_case(), device="cuda")


def test_a_malformed_device_name_is_a_clear_error():
    with pytest.raises(InputError, match="is not a device name"):
        gb.check("jax", "numpy", *gb.seed_case(), device="cpu:first")


def test_cli_checks_with_jax_as_candidate_and_as_reference(capsys):
    from gradcheck_bench.cli import main

    assert main(["check", "--candidate", "jax", "--reference", "fd"]) == 0
    assert main(["check", "--candidate", "numpy-buggy", "--reference", "jax"]) == 1
    assert "b1 x4.000" in capsys.readouterr().out


def test_importing_and_using_the_package_leaves_jax_x64_flag_alone():
    script = """
import sys
import gradcheck_bench as gb
assert "jax" not in sys.modules, "import gradcheck_bench must not import jax"
import jax, jax.numpy as jnp
before = (jax.config.jax_enable_x64, jnp.zeros(1).dtype)
gb.check("jax", "numpy", *gb.seed_case())
after = (jax.config.jax_enable_x64, jnp.zeros(1).dtype)
assert before == after, (before, after)
print("ok")
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                               cwd=Path(__file__).resolve().parents[1])
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_jax_is_right_where_a_logit_is_exactly_zero():
    """All-zero parameters make every logit 0; the cost is smooth there (slope sigmoid(0) - Y)."""
    params, X, Y = gb.seed_case()
    zeros = {name: np.zeros_like(value) for name, value in params.items()}
    assert gb.check("jax", "numpy", zeros, X, Y).difference <= 1e-12
    assert gb.check("jax", "fd", zeros, X, Y).passed


def test_a_cost_too_long_to_compile_runs_without_jit_and_says_so(monkeypatch):
    from gradcheck_bench.sources import jax_autograd

    monkeypatch.setattr(jax_autograd, "MAX_COMPILED_OPERATIONS", 10)  # the seed case's MLP traces to more
    result = gb.check("numpy", "jax", *gb.seed_case())
    assert result.passed and any("run without jit" in note for note in result.notes)
