"""The published asv dashboard, checked in a real browser (headless Chromium).

Publishes the committed results of ``results/asv`` into a temporary folder
(a copy of ``asv.conf.json`` whose branch is this checkout's HEAD, so it works
on any branch), then loads the pages in Chromium and requires graphs for our
benchmarks. The site is first made self-contained (``localize``: asv 0.6 links
its JavaScript from CDNs, unreachable in sandboxed CI). Skipped where Chromium
or asv is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck_bench.tools.dashboard import check_dashboard, find_chromium, localize

REPOSITORY = Path(__file__).resolve().parents[1]

pytest.importorskip("asv")
pytestmark = pytest.mark.skipif(find_chromium() is None, reason="no Chromium on PATH (apt-get install chromium)")


def publish_committed_results(tmp_path: Path) -> Path:
    config = json.loads(_strip_comments((REPOSITORY / "asv.conf.json").read_text()))
    html_dir = tmp_path / "html"
    config.update(repo=str(REPOSITORY), branches=["HEAD"], results_dir=str(REPOSITORY / "results" / "asv"),
                  benchmark_dir=str(REPOSITORY / "benchmarks"), html_dir=str(html_dir),
                  env_dir=str(tmp_path / "env"))
    config_path = tmp_path / "asv.conf.json"
    config_path.write_text(json.dumps(config))
    completed = subprocess.run([sys.executable, "-m", "asv", "publish", "--config", str(config_path)],
                               cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return html_dir


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def test_published_dashboard_shows_graphs_in_chromium(tmp_path):
    if not any((REPOSITORY / "results" / "asv").glob("*/*-*.json")):
        pytest.skip("no committed asv results to publish")
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPOSITORY, capture_output=True).returncode != 0:
        pytest.skip("asv publish needs the git history of the results' commits; this is not a git checkout")
    html_dir = publish_committed_results(tmp_path)
    assert len(localize(html_dir)) == 10  # from the copies that ship inside the package
    result = check_dashboard(html_dir, tmp_path / "screenshots")
    assert result.passed, result.problems
    for screenshot in result.screenshots:
        assert screenshot.stat().st_size > 10_000, f"{screenshot} is suspiciously small for a rendered page"
