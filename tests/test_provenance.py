"""provenance.json: the commit a results folder was made from, and whether the code had changes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gradcheck_bench.tools.report import git_commit


def git(root: Path, *args: str) -> str:
    completed = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                               capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


@pytest.fixture()
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "results" / "compare").mkdir(parents=True)
    (tmp_path / "results" / "compare" / "compare.csv").write_text("a\n1\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "first")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_clean_checkout_gives_its_commit(checkout: Path) -> None:
    assert git_commit() == git(checkout, "rev-parse", "HEAD")


def test_rewritten_results_do_not_make_the_code_dirty(checkout: Path) -> None:
    # regenerate rewrites one results folder after another: the next folder's code is still the commit's
    (checkout / "results" / "compare" / "compare.csv").write_text("a\n2\n")
    assert not git_commit().endswith("+dirty")


def test_a_changed_source_file_is_dirty(checkout: Path) -> None:
    (checkout / "code.py").write_text("x = 2\n")
    assert git_commit() == git(checkout, "rev-parse", "HEAD") + "+dirty"
