"""PyTorch autograd as a gradient source: agreement, float64, devices, no global side effects."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.linear1d import linear1d_case
from gradcheck_bench.errors import InputError
from gradcheck_bench.models import get_model

torch = pytest.importorskip("torch")

from gradcheck_bench.sources.torch_autograd import TorchAutograd  # noqa: E402

from autograd_points import POINTS  # noqa: E402


@pytest.mark.parametrize("point", POINTS, ids=list(POINTS))
def test_torch_and_numpy_agree_to_1e_12(point):
    result = gb.check("torch", "numpy", *POINTS[point]())
    assert result.difference <= 1e-12


@pytest.mark.parametrize("point", POINTS, ids=list(POINTS))
def test_torch_agrees_with_fd_well_under_the_threshold(point):
    # Measured: at most 1.1e-10 on these points; the bound leaves 20x under the 2e-7 threshold.
    result = gb.check("torch", "fd", *POINTS[point]())
    assert result.difference < 1e-8


def test_the_planted_bugs_are_caught_by_torch_and_named():
    result = gb.check("numpy-buggy", "torch", *gb.seed_case())
    assert not result.passed
    assert sorted(result.culprits) == ["W2", "b1"]
    assert result.per_parameter.loc["W2", "scale"] == pytest.approx(2.0, abs=1e-12)
    assert result.per_parameter.loc["b1", "scale"] == pytest.approx(4.0, abs=1e-12)


def test_gradients_come_back_as_float64_numpy_in_parameter_order_even_from_float32_input():
    params, X, Y = gb.seed_case()
    params32 = {name: value.astype(np.float32) for name, value in params.items()}
    gradient = TorchAutograd(get_model("mlp"))(params32, X.astype(np.float32), Y)
    assert list(gradient) == list(params)
    assert all(isinstance(g, np.ndarray) and g.dtype == np.float64 for g in gradient.values())
    assert all(gradient[name].shape == params[name].shape for name in params)


def test_the_1d_model_gives_exactly_x():
    result = gb.check("torch", "numpy", *linear1d_case(x=-3.25, theta=0.5), model="linear1d")
    assert result.candidate_gradient["theta"] == -3.25 and result.difference == 0.0


def test_device_cpu_is_accepted_explicitly():
    result = gb.check("torch", "numpy", *gb.seed_case(), device="cpu")
    assert result.difference <= 1e-12


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA; the error path cannot be reached")
def test_a_missing_cuda_device_is_a_clear_error():
    with pytest.raises(InputError, match="PyTorch sees no CUDA device"):
        gb.check("torch", "numpy", *gb.seed_case(), device="cuda")


def test_a_device_name_torch_does_not_know_is_a_clear_error():
    with pytest.raises(InputError, match="not a PyTorch device name"):
        gb.check("torch", "numpy", *gb.seed_case(), device="warp-drive")


def test_cli_checks_with_torch_as_candidate_and_as_reference(capsys):
    from gradcheck_bench.cli import main

    assert main(["check", "--candidate", "torch", "--reference", "fd"]) == 0
    assert main(["check", "--candidate", "numpy-buggy", "--reference", "torch"]) == 1
    assert "W2 x2.000" in capsys.readouterr().out


def test_importing_and_using_the_package_leaves_torch_global_state_alone():
    script = """
import sys
import gradcheck_bench as gb
assert "torch" not in sys.modules, "import gradcheck_bench must not import torch"
import torch
before = torch.get_default_dtype()
gb.check("torch", "numpy", *gb.seed_case())
assert torch.get_default_dtype() == before, (before, torch.get_default_dtype())
print("ok")
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                               cwd=Path(__file__).resolve().parents[1])
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_threads_option_applies_to_the_call_only():
    before = torch.get_num_threads()
    seen = []
    source = TorchAutograd(get_model("mlp"), threads=1)
    original = source._gradient
    source._gradient = lambda *point: (seen.append(torch.get_num_threads()), original(*point))[1]
    gradient = source(*gb.seed_case())
    assert seen == [1] and torch.get_num_threads() == before
    assert gb.check(lambda *point: gradient, "numpy", *gb.seed_case()).difference <= 1e-12


def test_threads_must_be_a_positive_integer():
    with pytest.raises(InputError, match="threads must be a positive integer"):
        gb.check("torch", "numpy", *gb.seed_case(), threads=0)


def test_torch_is_right_where_a_logit_is_exactly_zero():
    """All-zero parameters make every logit 0; the cost is smooth there (slope sigmoid(0) - Y)."""
    params, X, Y = gb.seed_case()
    zeros = {name: np.zeros_like(value) for name, value in params.items()}
    assert gb.check("torch", "numpy", zeros, X, Y).difference <= 1e-12
    assert gb.check("torch", "fd", zeros, X, Y).passed
