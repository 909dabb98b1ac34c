"""The asv suite itself: it imports, discovers and checks cleanly (so a broken benchmark never lands),
and the regression gate catches the seed's dW2 bug committed into a scratch copy of this checkout.

Both run asv with ``--python=same`` (this interpreter) and ``ASV_PYTHONPATH`` pointing at the
checkout under test, so asv benchmarks this tree even where another copy of the package is installed.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
BUGGY_LINE = '    grads["W2"] = grads["W2"] * 2  # the seed\'s dW2 bug, committed by the gate test\n'
RETURN_LINE = "    return {name: grads[name] for name in params}\n"

pytest.importorskip("asv")


def asv_environment(root: Path, home: Path) -> dict[str, str]:
    """asv run on ``root``'s package, with its machine file in ``home`` rather than the user's."""
    return dict(os.environ, ASV_PYTHONPATH=str(root), HOME=str(home))


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_asv_check_finds_no_problems(tmp_path):
    completed = run([sys.executable, "-m", "asv", "check", "--python=same"], REPOSITORY,
                    asv_environment(REPOSITORY, tmp_path))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "No problems found" in completed.stdout


def test_benchmarks_import_only_the_public_api():
    import gradcheck_bench

    used: set[str] = set()
    for path in (REPOSITORY / "benchmarks").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for module in modules:
                    assert not module.startswith("gradcheck_bench.") and (
                        module != "gradcheck_bench" or isinstance(node, ast.Import)
                    ), f"{path.name} imports {module}: benchmarks use only `import gradcheck_bench as gb`"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "gb":
                used.add(node.attr)
    assert used, "the suite should use the public API"
    assert used <= set(gradcheck_bench.__all__), sorted(used - set(gradcheck_bench.__all__))


# ---------------------------------------------------------------------------
# The regression gate, end to end in a scratch git repository
# ---------------------------------------------------------------------------


def scratch_copy(destination: Path) -> Path:
    """This checkout's tracked and untracked-but-not-ignored files, committed into a new repository."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPOSITORY)
    if listed.returncode != 0:
        pytest.skip("the gate test copies a git checkout; this is not one")
    for name in filter(None, listed.stdout.split("\0")):
        source = REPOSITORY / name
        if source.is_file() and not name.startswith("results/"):
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git(destination, "init", "-q", "-b", "main")
    (destination / ".git" / "info" / "exclude").write_text("/results/\n")  # results outlive checkouts
    commit_all(destination, "base: this checkout")
    return destination


def git(root: Path, *args: str) -> str:
    completed = run(["git", "-c", "user.name=gate-test", "-c", "user.email=gate@test", *args], root)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def run_accuracy_benchmarks(root: Path, home: Path) -> None:
    """asv's accuracy benchmarks for the checked-out commit, saved under its hash."""
    commit = git(root, "rev-parse", "HEAD")
    completed = run([sys.executable, "-m", "asv", "run", "--python=same", f"--set-commit-hash={commit}",
                     "--bench", "bench_accuracy", "--quick", "--machine", "gate-test"],
                    root, asv_environment(root, home))
    assert completed.returncode == 0, completed.stdout + completed.stderr


def gate(root: Path, base: str, head: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(root))
    return run([sys.executable, "-m", "gradcheck_bench", "gate", base, head], root, environment)


@pytest.mark.slow
def test_gate_fails_on_the_dw2_bug_and_passes_a_harmless_change(tmp_path):
    root = scratch_copy(tmp_path / "repo")
    home = tmp_path / "home"
    home.mkdir()
    completed = run([sys.executable, "-m", "asv", "machine", "--yes", "--machine", "gate-test"], root,
                    asv_environment(root, home))
    assert completed.returncode == 0, completed.stderr
    base = git(root, "rev-parse", "HEAD")
    run_accuracy_benchmarks(root, home)

    backprop = root / "gradcheck_bench" / "models" / "mlp.py"
    original = backprop.read_text()
    assert original.count(RETURN_LINE) == 1, "numpy_backprop's return line moved; update this test"
    backprop.write_text(original.replace(RETURN_LINE, BUGGY_LINE + RETURN_LINE))
    buggy = commit_all(root, "the seed's dW2 bug: dW2 multiplied by 2")
    run_accuracy_benchmarks(root, home)

    failed = gate(root, base, buggy)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "REGRESSION  bench_accuracy.SourceAgreement.track_relative_difference('numpy', 'fd', 'seed')" \
        in failed.stdout

    git(root, "checkout", "-q", base)
    readme = root / "README.md"
    readme.write_text(readme.read_text() + "\nA harmless change.\n")
    harmless = commit_all(root, "a harmless change")
    run_accuracy_benchmarks(root, home)

    passed = gate(root, base, harmless)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PASS" in passed.stdout and "REGRESSION" not in passed.stdout
