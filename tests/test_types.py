"""The package's type annotations are checked, not only written: mypy passes on it.

mypy runs as a developer runs it, ``python -m mypy`` from the repository root, so its settings are
pyproject.toml's ``[tool.mypy]`` (which files, which Python, which third-party packages are untyped).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_passes_on_the_package():
    pytest.importorskip("mypy")
    completed = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True,
                               timeout=600)
    if completed.returncode != 0:
        pytest.fail(f"mypy exited with status {completed.returncode}:\n{completed.stdout}{completed.stderr}",
                    pytrace=False)
