"""The asv suite itself: it imports, discovers and checks cleanly (so a broken benchmark never lands),
and the regression gate, end to end in scratch copies of this checkout: it catches the seed's dW2 bug,
confirms a planted slowdown by re-measuring both commits, and passes identical code.

The accuracy runs use asv's ``--python=same`` (this interpreter) and ``ASV_PYTHONPATH`` pointing at
the checkout under test, so asv benchmarks this tree even where another copy of the package is
installed. The slowdown needs each commit's own code, so it runs in a real asv virtualenv, kept lean:
a configuration without torch or jax, one benchmark, and one environment that asv builds once and
reuses for both commits' quick runs and every round of the gate's re-measurement.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
BUGGY_LINE = '    grads["W2"] = grads["W2"] * 2  # the seed\'s dW2 bug, committed by the gate test\n'
RETURN_LINE = "    return {name: grads[name] for name in params}\n"
LOOP_PASS_LINE = "                    costs[side, j] = scalar_cost(cost(unravel(flat), X, Y))\n"
DEAD_LOOP = ("                    for _ in range(9):  # planted slowdown: a dead loop over the forward pass\n"
             "                        model.cost(unravel(flat), X, Y)\n")
CHUNK_LINE = "        costs = np.empty((2, indices.size))\n"
WAIT = ("        __import__('time').sleep(0.05)  # planted wait, once a chunk (of up to 256 coordinates): slower in wall\n"
        "        # time, little in CPU time (a wake-up finds cold caches: a wait after every pass would cost CPU)\n")
TIMED = "bench_fd_cost.FDCheckTime.time_check('loop', 'fraud-47')"

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


def test_the_engine_parameters_come_from_this_checkout_not_the_installed_commit(monkeypatch):
    # asv runs each parameter combination by position against every commit: the list must not
    # depend on what the installed commit's fd_engines() says (another set, or another order).
    import importlib

    import gradcheck_bench

    sys.path.insert(0, str(REPOSITORY))
    try:
        common = importlib.import_module("benchmarks.common")
        in_process = sorted(name for name, engine in gradcheck_bench.differences.engines.engines().items()
                            if engine.map_chunks is None)
        assert common.FD_ENGINES == in_process and "dask" not in common.FD_ENGINES
        monkeypatch.setattr(gradcheck_bench, "fd_engines", lambda: ["torch", "loop"])  # an older commit
        assert importlib.reload(common).FD_ENGINES == in_process
    finally:
        sys.path.remove(str(REPOSITORY))
        monkeypatch.undo()
        importlib.reload(common)


def test_benchmarks_import_only_the_public_api():
    """``import gradcheck_bench as gb``, and a model's own helpers from its module (``from gradcheck_bench.models
    import mlp``); every name the suite reads from either exists."""
    import importlib
    import pkgutil

    import gradcheck_bench
    import gradcheck_bench.models

    model_modules = {info.name for info in pkgutil.iter_modules(gradcheck_bench.models.__path__)}
    used: set[str] = set()
    helpers: dict[str, str] = {}  # the name a model's module is imported as -> that module
    read: set[tuple[str, str]] = set()  # (name, attribute) for every `name.attribute` in the suite
    for path in (REPOSITORY / "benchmarks").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "gradcheck_bench.models":
                for alias in node.names:
                    assert alias.name in model_modules, (f"{path.name} imports {alias.name} from gradcheck_bench.models: "
                                                         "benchmarks import a model's module, nothing else from there")
                    helpers[alias.asname or alias.name] = alias.name
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for module in modules:
                    assert not module.startswith("gradcheck_bench.") and (
                        module != "gradcheck_bench" or isinstance(node, ast.Import)
                    ), (f"{path.name} imports {module}: benchmarks use `import gradcheck_bench as gb` and "
                        "`from gradcheck_bench.models import <model>`")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                read.add((node.value.id, node.attr))
                if node.value.id == "gb":
                    used.add(node.attr)
    assert used, "the suite should use the public API"
    assert used <= set(gradcheck_bench.__all__), sorted(used - set(gradcheck_bench.__all__))
    missing = [f"{name}.{attribute}" for name, attribute in sorted(read) if name in helpers
               and not hasattr(importlib.import_module(f"gradcheck_bench.models.{helpers[name]}"), attribute)]
    assert not missing, missing


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


# ---------------------------------------------------------------------------
# The gate's re-measurement, end to end: each commit's own code, in an asv virtualenv
# ---------------------------------------------------------------------------


def lean_asv_config(root: Path) -> None:
    """asv.conf.json for a virtualenv of this Python with the package's own requirements only."""
    config = json.loads("\n".join(line for line in (root / "asv.conf.json").read_text().splitlines()
                                  if not line.lstrip().startswith("//")))
    config.update(pythons=[f"{sys.version_info.major}.{sys.version_info.minor}"], matrix={},
                  install_command=["in-dir={env_dir} python -m pip install {wheel_file}"])
    (root / "asv.conf.json").write_text(json.dumps(config, indent=2) + "\n")


def quick_run(root: Path, home: Path, commits: list[str], pattern: str) -> None:
    hashfile = root.parent / "commits.txt"
    hashfile.write_text("\n".join(commits) + "\n")
    completed = run([sys.executable, "-m", "asv", "run", f"HASHFILE:{hashfile}", "--quick", "--machine",
                     "gate-test", "--bench", pattern], root, dict(os.environ, HOME=str(home)))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]


def gate_remeasuring(root: Path, home: Path, base: str, head: str, pattern: str,
                     *options: str) -> subprocess.CompletedProcess:
    """The gate on one value, in 6 rounds: the fewest with which the rounds' own test can confirm (1/64 < 0.02)."""
    environment = dict(os.environ, PYTHONPATH=str(root), HOME=str(home))
    return run([sys.executable, "-m", "gradcheck_bench", "gate", base, head, "--bench", pattern,
                "--confirm", "all", "--rounds", "6", *options], root, environment)


@pytest.mark.slow
def test_gate_confirms_a_planted_slowdown_and_passes_identical_code(tmp_path):
    pytest.importorskip("virtualenv")
    pytest.importorskip("scipy")
    root = scratch_copy(tmp_path / "repo")
    home = tmp_path / "home"
    home.mkdir()
    lean_asv_config(root)
    base = commit_all(root, "a lean asv configuration")
    engine = root / "gradcheck_bench" / "differences" / "engines" / "loop.py"
    original = engine.read_text()
    assert original.count(LOOP_PASS_LINE) == 1, "the loop engine's forward pass moved; update this test"
    engine.write_text(original.replace(LOOP_PASS_LINE, LOOP_PASS_LINE + DEAD_LOOP))
    slow = commit_all(root, "a dead loop: nine more forward passes per pass")
    git(root, "checkout", "-q", base)
    assert original.count(CHUNK_LINE) == 1, "the loop engine's chunk moved; update this test"
    engine.write_text(original.replace(CHUNK_LINE, CHUNK_LINE + WAIT))
    asleep = commit_all(root, "a wait in every chunk of forward passes")
    git(root, "checkout", "-q", base)
    git(root, "commit", "-q", "--allow-empty", "-m", "identical code under another hash")
    identical = git(root, "rev-parse", "HEAD")
    completed = run([sys.executable, "-m", "asv", "machine", "--yes", "--machine", "gate-test"], root,
                    dict(os.environ, HOME=str(home)))
    assert completed.returncode == 0, completed.stderr
    pattern = re.escape(TIMED)
    quick_run(root, home, [base, slow, identical, asleep], pattern)

    caught = gate_remeasuring(root, home, base, slow, pattern)
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert re.search(rf"REGRESSION  {re.escape(TIMED)} .*\n.*confirmed x\d+\.\d+ \(p = ", caught.stdout), caught.stdout

    passed = gate_remeasuring(root, home, base, identical, pattern)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PASS" in passed.stdout and "1 re-measured on both commits" in passed.stdout

    # the rounds read CPU time by default, where the wait costs little (its wake-up), far under a factor 2; in
    # wall time it is a slowdown several times over: the clock the gate names reaches the benchmarks asv runs
    in_cpu_time = gate_remeasuring(root, home, base, asleep, pattern, "--factor", "2")
    assert in_cpu_time.returncode == 0, in_cpu_time.stdout + in_cpu_time.stderr
    assert "times in CPU time on one thread" in in_cpu_time.stdout
    in_wall_time = gate_remeasuring(root, home, base, asleep, pattern, "--factor", "2", "--clock", "wall")
    assert in_wall_time.returncode == 1, in_wall_time.stdout + in_wall_time.stderr
    assert "times in wall time" in in_wall_time.stdout


# ---------------------------------------------------------------------------
# The gate from a clone: no saved results, no flags, and git status stays clean
# ---------------------------------------------------------------------------

AGREEMENT = "bench_accuracy.FDEngineAgreement.track_relative_difference('loop', 'seed')"


@pytest.mark.slow
def test_gate_from_a_clone_measures_what_it_lacks_and_leaves_git_status_clean(tmp_path):
    pytest.importorskip("virtualenv")
    root = scratch_copy(tmp_path / "repo")
    (root / ".git" / "info" / "exclude").write_text("")  # a clone: committed results and all, nothing extra ignored
    home = tmp_path / "home"
    home.mkdir()  # asv knows no machine here yet: the gate registers this host itself
    lean_asv_config(root)
    commit_all(root, "a lean asv configuration")
    git(root, "commit", "-q", "--allow-empty", "-m", "identical code under another hash")
    environment = dict(os.environ, PYTHONPATH=str(root), HOME=str(home))
    completed = run([sys.executable, "-m", "gradcheck_bench", "gate", "HEAD~1", "HEAD", "--bench", re.escape(AGREEMENT)],
                    root, environment)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "running the quick asv suite" in completed.stderr and "quick run done" in completed.stderr
    assert "PASS" in completed.stdout and "measured by the gate's own quick run" in completed.stdout
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert list((root / ".asv" / "results").glob("*/*.json"))  # kept for the next run, where git ignores it

    again = run([sys.executable, "-m", "gradcheck_bench", "gate", "HEAD~1", "HEAD", "--bench", re.escape(AGREEMENT)],
                root, environment)
    assert again.returncode == 0 and "quick run" not in again.stderr  # the saved results serve the next run
