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

from gradcheck_bench.tools.dashboard import (
    DEFAULT_GRAPH,
    LOCAL_ASSET_DIR,
    check_dashboard,
    find_chromium,
    graph_problems,
    localize,
    log_scale_button_active,
    open_on_log_scale,
)

REPOSITORY = Path(__file__).resolve().parents[1]

NO_CHROMIUM = pytest.mark.skipif(find_chromium() is None, reason="no Chromium on PATH (apt-get install chromium)")
ASV_PAGE_HEAD = ('<html><head>\n    <script language="javascript" type="text/javascript"\n'
                 '            src="asv.js">\n    </script>\n</head></html>\n')


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


@NO_CHROMIUM
def test_published_dashboard_shows_graphs_in_chromium(tmp_path):
    pytest.importorskip("asv")
    if not any((REPOSITORY / "results" / "asv").glob("*/*-*.json")):
        pytest.skip("no committed asv results to publish")
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPOSITORY, capture_output=True).returncode != 0:
        pytest.skip("asv publish needs the git history of the results' commits; this is not a git checkout")
    html_dir = publish_committed_results(tmp_path)
    assert len(localize(html_dir)) == 10  # from the copies that ship inside the package
    unlogged = check_dashboard(html_dir, tmp_path / "before")
    assert any("not on a log scale" in problem for problem in unlogged.problems), unlogged.problems
    assert DEFAULT_GRAPH in open_on_log_scale(html_dir)
    result = check_dashboard(html_dir, tmp_path / "screenshots")
    assert result.passed, result.problems
    for screenshot in result.screenshots:
        assert screenshot.stat().st_size > 10_000, f"{screenshot} is suspiciously small for a rendered page"


def fake_site(tmp_path: Path, units: dict[str, str]) -> Path:
    """The two files of a published asv site that ``open_on_log_scale`` reads and edits."""
    (tmp_path / "index.html").write_text(ASV_PAGE_HEAD)
    (tmp_path / "index.json").write_text(json.dumps({"benchmarks": {name: {"unit": unit} for name, unit in units.items()}}))
    return tmp_path


def test_accuracy_graphs_and_only_those_are_set_to_open_on_a_log_scale(tmp_path):
    site = fake_site(tmp_path, {"a.track_relative_difference": "relative difference", "b.time_check": "seconds"})
    assert open_on_log_scale(site) == ["a.track_relative_difference"]
    assert open_on_log_scale(site) == ["a.track_relative_difference"]  # idempotent
    page = (site / "index.html").read_text()
    assert page.count(f'src="{LOCAL_ASSET_DIR}/log-scale.js"') == 1
    assert page.index("log-scale.js") < page.index('src="asv.js"')  # before asv reads the address
    script = (site / LOCAL_ASSET_DIR / "log-scale.js").read_text()
    assert '["a.track_relative_difference"]' in script and "b.time_check" not in script


def test_a_page_that_is_not_asvs_is_refused_unchanged(tmp_path):
    site = fake_site(tmp_path, {})
    (site / "index.html").write_text("<html>not asv</html>")
    with pytest.raises(FileNotFoundError, match="asv.js"):
        open_on_log_scale(site)
    assert (site / "index.html").read_text() == "<html>not asv</html>"


def test_the_graph_check_reads_asvs_log_scale_button():
    drawn = '<div id="main-graph"><canvas class="flot-base"></canvas><canvas class="flot-overlay"></canvas></div>'
    pressed = '<a id="log-scale" class="btn btn-default btn-xs active" role="button">log scale</a>'
    released = '<a id="log-scale" class="btn btn-default btn-xs" role="button">log scale</a>'
    assert log_scale_button_active(pressed) and not log_scale_button_active(released)
    assert graph_problems(released + drawn + "track", "m.track", log_scale=True)
    assert graph_problems(pressed + drawn + "track", "m.track", log_scale=True) == []
    assert graph_problems(released + drawn + "track", "m.track", log_scale=False) == []
