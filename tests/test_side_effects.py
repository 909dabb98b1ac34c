"""A check leaves the caller's process as it found it: settings, RNG states, flags, warnings filters, .grad fields.

Each test runs in a fresh interpreter, so nothing an earlier test set can hide a change; the snapshot of
every setting is taken before and after checks that use the torch and jax sources and engines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SNAPSHOT = r'''
import importlib.util, json, random, warnings
import numpy as np
for framework in ("torch", "jax"):  # imported before the first snapshot: an import may draw from numpy's RNG
    if importlib.util.find_spec(framework) is not None:
        __import__(framework)

def snapshot():
    state = {"numpy_legacy_rng": np.random.get_state()[1][:8].tolist() + [int(np.random.get_state()[2])],
             "python_rng": random.getstate()[1][:8], "warnings_filters": len(warnings.filters),
             "numpy_errstate": np.geterr(), "numpy_print": np.get_printoptions()["precision"]}
    try:
        import torch
        state.update(torch_threads=torch.get_num_threads(), torch_interop=torch.get_num_interop_threads(),
                     torch_dtype=str(torch.get_default_dtype()), torch_rng=torch.random.get_rng_state()[:16].tolist(),
                     torch_grad_enabled=torch.is_grad_enabled(),
                     torch_deterministic=torch.are_deterministic_algorithms_enabled())
    except ImportError:
        pass
    try:
        import jax
        state.update(jax_x64=bool(jax.config.jax_enable_x64), jax_platform=str(jax.config.jax_platforms))
    except ImportError:
        pass
    return state
'''


def run(script: str) -> str:
    completed = subprocess.run([sys.executable, "-c", SNAPSHOT + script], capture_output=True, text=True,
                               timeout=300, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_torch_and_jax_checks_leave_every_setting_as_it_was():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    out = run(r'''
import torch, jax
import gradcheck_bench as gb
from gradcheck_bench.models.mlp import random_case
torch.ones(3) @ torch.ones(3)            # torch's pools started, as a caller's own code would have them
before = snapshot()
params, X, Y = random_case((4, 30, 30, 1), 16, 0)
gb.check("numpy", "fd", params, X, Y, engine="torch")
gb.check("numpy", "fd", params, X, Y, engine="jax")
gb.check("numpy", "torch", params, X, Y)
gb.check("numpy", "jax", params, X, Y)
gb.check("numpy", "complex-step", *gb.seed_case())
after = snapshot()
print("same" if before == after else json.dumps({k: (before.get(k), after.get(k)) for k in before
                                                 if before.get(k) != after.get(k)}))
''')
    assert out == "same", out


def test_a_check_of_torch_parameters_leaves_no_grad_and_keeps_requires_grad():
    pytest.importorskip("torch")
    out = run(r'''
import torch
import gradcheck_bench as gb
net = torch.nn.Linear(3, 1).double()
X = torch.randn(5, 3, dtype=torch.float64)
cost = lambda p, X, Y: torch.func.functional_call(net, p, (X,)).square().mean()
before = snapshot()
gb.check("torch", "fd", dict(net.named_parameters()), X, None, model=gb.Model(name="linear", cost=cost))
after = snapshot()
grads = [p.grad for p in net.parameters()]
flags = [p.requires_grad for p in net.parameters()]
print("ok" if before == after and grads == [None, None] and flags == [True, True] else f"{grads} {flags}")
''')
    assert out == "ok", out
