"""What `import gradcheck_bench` and a first check load: the library, never its tools, nor what it does not use.

Each case runs in a fresh interpreter, so what another test imported cannot hide a heavy import.
(How long the import takes is measured by the asv suite, ``bench_import.py``, not here.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "scipy", "matplotlib", "torch", "jax", "dask", "asv", "tqdm")


def modules_after(code: str) -> set[str]:
    """The top-level modules (and gradcheck_bench's submodules) loaded once ``code`` has run."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    return {name.split(".")[0] for name in loaded} | {name for name in loaded if name.startswith("gradcheck_bench.")}


def test_importing_the_package_loads_no_tool_and_no_optional_framework():
    loaded = modules_after("import gradcheck_bench")
    assert not loaded & set(HEAVY)
    assert not {name for name in loaded if name.startswith("gradcheck_bench.tools")}


def test_a_first_check_without_a_bar_loads_neither_pandas_nor_tqdm():
    # A 977-parameter check runs the oracle in several chunks; stderr is a pipe here, so no bar is shown,
    # and the first check in a process must not pay for importing one.
    loaded = modules_after("import gradcheck_bench as gb\n"
                           "from gradcheck_bench.models.mlp import random_case\n"
                           "params, X, Y = random_case((4, 32, 24, 1), examples=32, seed=0)\n"
                           "assert gb.check('numpy', gb.fd(engine='structured'), params, X, Y).passed")
    assert not loaded & {"pandas", "tqdm", "scipy", "matplotlib"}


def test_the_per_parameter_table_loads_pandas_when_asked_for():
    pytest.importorskip("pandas")
    loaded = modules_after("import gradcheck_bench as gb\n"
                           "gb.check('numpy', 'fd', *gb.seed_case()).per_parameter")
    assert "pandas" in loaded
