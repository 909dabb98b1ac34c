"""assert_gradients_close: a gradient check for users' own pytest suites, and the README's example."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.errors import GradCheckError

ROOT = Path(__file__).resolve().parents[1]


def test_a_correct_gradient_passes_and_returns_the_result():
    result = gb.assert_gradients_close("numpy", "fd", *gb.seed_case())
    assert isinstance(result, gb.CheckResult) and result.passed


def test_a_wrong_gradient_raises_with_the_table_worst_tensor_first():
    with pytest.raises(AssertionError) as caught:
        gb.assert_gradients_close("numpy-buggy", "fd", *gb.seed_case())
    message = str(caught.value)
    assert message.startswith("FAIL  numpy-buggy vs fd: relative difference 2.851e-01")
    table = message.split("Per-parameter breakdown, worst first:\n", 1)[1].splitlines()
    rows = [line.split()[0] for line in table[2:]]  # after the column and index-name lines
    assert rows[:2] == ["b1", "W2"] and sorted(rows) == sorted(["W1", "b1", "W2", "b2", "W3", "b3"])
    assert "x4.000" in table[2] and "MISMATCH" in table[2] and "x2.000" in table[3]


def test_options_and_threshold_are_passed_to_check():
    params, X, Y = gb.seed_case()
    # Below what any finite difference resolves in float64 (a failing check's second look included).
    with pytest.raises(AssertionError, match="threshold 1.0e-15"):
        gb.assert_gradients_close("numpy", "fd", params, X, Y, threshold=1e-15)
    gb.assert_gradients_close("numpy", "fd", params, X, Y, eps=1e-6)


def test_bad_input_is_an_input_error_not_an_assertion():
    params, X, Y = gb.seed_case()
    params["W1"] = params["W1"].astype(int)
    with pytest.raises(GradCheckError):
        gb.assert_gradients_close("numpy", "fd", params, X, Y)


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    examples = [block for block in blocks if block.startswith("# test_my_gradients.py")]
    assert len(examples) == 1, "the README should hold one test_my_gradients.py example"
    return examples[0]


def test_the_readme_example_runs_under_pytest_and_passes(tmp_path):
    (tmp_path / "test_my_gradients.py").write_text(readme_example())
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_my_gradients.py")],
        capture_output=True, text=True, timeout=180, cwd=tmp_path, env=environment,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    expected = "3 passed" if _has("torch") else "2 passed, 1 skipped"
    assert expected in completed.stdout


def test_the_readme_example_catches_a_bug_in_the_users_gradient():
    namespace: dict = {}
    exec(compile(readme_example(), "test_my_gradients.py", "exec"), namespace)
    correct = namespace["logistic_gradient"]
    namespace["logistic_gradient"] = lambda params, X, Y: {**correct(params, X, Y), "b": np.zeros((1, 1))}
    with pytest.raises(AssertionError, match=r"Mismatched tensors, worst first:\n  b x"):
        namespace["test_my_logistic_gradient_matches_finite_differences"]()


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
