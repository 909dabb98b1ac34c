"""The README stays true: its examples run, its shown output is real, its commands are CI's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks() -> list[str]:
    """Every ```python block but the pytest file (tests/test_assertions.py runs that one under pytest)."""
    return [block for block in re.findall(r"```python\n(.*?)```", README, re.S) if "def test_" not in block]


def test_the_readme_is_short_enough_for_a_newcomer():
    assert len(README.splitlines()) <= 250


def test_the_python_examples_run_in_order():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    namespace: dict = {}
    for block in python_blocks():
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["result"].culprits == ["b1", "W2"]


def test_the_example_output_is_what_the_command_prints():
    shown = re.search(r"```\n\$ (gradcheck-bench check [^\n]*)\n(.*?)```", README, re.S)
    command, output = shown.group(1), shown.group(2)
    assert command == "gradcheck-bench check --candidate numpy-buggy --reference fd"
    completed = subprocess.run([sys.executable, "-m", "gradcheck_bench", *command.split()[1:]],
                               capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert completed.returncode == 1
    # The README shows the verdict and the culprits, every line up to the first blank one, figure for figure.
    # The per-tensor table after them is left out: its round-off-sized figures (differences near 1e-11)
    # change with the CPU's BLAS kernel, the verdict's lines do not.
    summary = completed.stdout.split("\n\n")[0].splitlines()
    assert output.splitlines() == summary


def test_ci_runs_the_readmes_test_command_verbatim():
    commands = re.findall(r"```\n(pip install [^\n]*)\n```", README)
    assert len(commands) == 2 and "gradcheck-bench compare" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_every_link_in_the_readme_and_the_docs_leads_to_a_file():
    # A picture or table the docs show must be a file that results/ holds (regenerated, with provenance).
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = [(page.name, link) for page in pages
               for link in re.findall(r"\]\(([^)#\s]+)", page.read_text())
               if not link.startswith(("http://", "https://")) and not (page.parent / link).exists()]
    assert not missing
