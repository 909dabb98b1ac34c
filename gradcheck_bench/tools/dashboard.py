"""Check the published asv dashboard in a real browser: headless Chromium, a screenshot, graphs present.

``asv publish`` writes a static site whose graphs are drawn by JavaScript
(flot) from JSON files, so a page that loads is not yet a page that shows
anything. This module serves the site on 127.0.0.1, loads the benchmark grid
and one benchmark's graph page in headless Chromium, saves a screenshot of
each, and checks the rendered DOM: the grid lists our benchmark modules and
the graph page drew flot canvases for the benchmark.

asv 0.6 links the site's JavaScript libraries from public CDNs; where they
cannot be reached the page shows nothing but an error. ``localize`` makes the
site self-contained from the copies in ``dashboard_assets/``, and makes the
accuracy graphs (unit ``relative difference``, where a correct source sits
near 1e-11 and the canary near 0.3) open on asv's logarithmic y-axis::

    gradcheck-bench dashboard localize results/asv-html
    gradcheck-bench dashboard check results/asv-html --out results/dashboard-check

``check`` exits 0 graphs shown (an accuracy graph on a log scale), 1 the
page rendered without them, 2 no Chromium or no published site. The local copies ship inside the package
(``gradcheck_bench/tools/dashboard_assets``), so this works from an
installed wheel as well as from a checkout. ``tests/test_asv_dashboard.py`` runs both where
Chromium is installed and is skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1400,900",
)
RENDER_BUDGET_MS = 20_000
"""Virtual time Chromium gives the page's scripts to fetch the JSON and draw before it captures."""

DEFAULT_ASSETS = Path(__file__).resolve().parent / "dashboard_assets"
CDN_ASSETS: dict[str, str] = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "jquery.flot-0.8.3.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "jquery.flot-0.8.3.time.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        "jquery.flot-0.8.3.selection.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        "jquery.flot-0.8.3.categories.min.js",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": "stupidtable.js",
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "md5.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap-3.1.0.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": "bootstrap-3.1.0.min.css",
}
"""asv 0.6.6's CDN links in the published index.html -> the local copy that replaces each."""
LOCAL_ASSET_DIR = "vendor"
SCRIPTS_FAILED = "Can not determine continental origin of swallow"
"""What asv's page says when its JavaScript libraries did not load."""

LOG_SCALE_SCRIPT = "log-scale.js"
LOG_SCALE_UNITS = ("relative difference",)
"""Units whose graphs open on a log y-axis: accuracy (kept equal to ``benchmarks/common.py``)."""
LOG_SCALE_PLACEHOLDER = "/*BENCHMARKS*/[]"

SUITE_MODULES = ("bench_accuracy", "bench_fd_cost", "bench_gradient")
DEFAULT_GRAPH = "bench_accuracy.SourceAgreement.track_relative_difference"


@dataclass
class DashboardCheck:
    """What the browser showed: screenshots taken and every problem found (none: graphs are there)."""

    screenshots: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def localize(html_dir: Path, assets_dir: Path = DEFAULT_ASSETS) -> list[str]:
    """Point the published ``index.html`` at local copies of its CDN assets; returns the URLs replaced.

    Idempotent; rerun it after every ``asv publish`` (which rewrites index.html).
    """
    index = html_dir / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"no published asv site in {html_dir}; run `asv publish` first")
    missing = [name for name in CDN_ASSETS.values() if not (assets_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{assets_dir} lacks {', '.join(missing)}; reinstall gradcheck-bench, or pass "
                                "--assets pointing at a folder with asv's CDN files")
    (html_dir / LOCAL_ASSET_DIR).mkdir(exist_ok=True)
    text, replaced = index.read_text(), []
    for url, name in CDN_ASSETS.items():
        if url in text:
            shutil.copyfile(assets_dir / name, html_dir / LOCAL_ASSET_DIR / name)
            def localized(tag: re.Match[str]) -> str:
                return local_tag(tag.group(0), url, f"{LOCAL_ASSET_DIR}/{name}")

            text = re.sub(r"<(script|link)\b[^>]*" + re.escape(url) + r"[^>]*>", localized, text)
            replaced.append(url)
    index.write_text(text)
    return replaced


def open_on_log_scale(html_dir: Path, assets_dir: Path = DEFAULT_ASSETS) -> list[str]:
    """Make the graphs of benchmarks in ``LOG_SCALE_UNITS`` open on a log y-axis; returns their names.

    asv has no per-benchmark axis setting, but keeps the axis in the page's address
    (``#name?y-axis-scale=log``): ``log-scale.js``, loaded before asv's own scripts, adds it when such a
    graph is opened. Idempotent; rerun it after every ``asv publish``.
    """
    index, listing = html_dir / "index.html", html_dir / "index.json"
    if not index.is_file() or not listing.is_file():
        raise FileNotFoundError(f"no published asv site in {html_dir}; run `asv publish` first")
    names = log_scale_benchmarks(html_dir)
    script = (assets_dir / LOG_SCALE_SCRIPT).read_text().replace(LOG_SCALE_PLACEHOLDER, json.dumps(names))
    (html_dir / LOCAL_ASSET_DIR).mkdir(exist_ok=True)
    (html_dir / LOCAL_ASSET_DIR / LOG_SCALE_SCRIPT).write_text(script)
    text, tag = index.read_text(), f'<script src="{LOCAL_ASSET_DIR}/{LOG_SCALE_SCRIPT}"></script>'
    if tag not in text:
        first_asv_script = re.search(r'<script\b[^>]*\bsrc="asv\.js"', text)
        if first_asv_script is None:
            raise FileNotFoundError(f"{index} does not load asv.js; is it asv's published page?")
        text = text[:first_asv_script.start()] + tag + "\n    " + text[first_asv_script.start():]
        index.write_text(text)
    return names


def log_scale_benchmarks(html_dir: Path) -> list[str]:
    """The published benchmarks whose unit is in ``LOG_SCALE_UNITS``, from asv's ``index.json``."""
    benchmarks = json.loads((html_dir / "index.json").read_text()).get("benchmarks", {})
    return sorted(name for name, info in benchmarks.items() if info.get("unit") in LOG_SCALE_UNITS)


def local_tag(tag: str, url: str, local: str) -> str:
    """The tag loading ``local`` instead of ``url``, without the cross-origin integrity attributes."""
    tag = tag.replace(url, local)
    return re.sub(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"', "", tag)


def find_chromium() -> str | None:
    """The path of a Chromium-family browser on PATH, or None."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def run_chromium(chromium: str, url: str, action: str, timeout: float = 120) -> str:
    """Load ``url`` in a fresh headless profile and perform ``action`` (``--dump-dom`` or ``--screenshot=...``)."""
    with tempfile.TemporaryDirectory(prefix="asv-dashboard-profile-") as profile:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--virtual-time-budget={RENDER_BUDGET_MS}", action, url]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise RuntimeError(f"chromium exited {completed.returncode}: {completed.stderr.strip()[-500:]}")
    return completed.stdout


def look_at(chromium: str, url: str, screenshot: Path) -> str:
    """Screenshot of ``url`` saved to ``screenshot``; returns the DOM after the scripts ran."""
    run_chromium(chromium, url, f"--screenshot={screenshot}")
    return run_chromium(chromium, url, "--dump-dom")


def grid_problems(dom: str) -> list[str]:
    if SCRIPTS_FAILED in dom:
        return ["the page's JavaScript libraries did not load (asv 0.6 links them from CDNs); "
                "offline, run `gradcheck-bench dashboard localize HTML_DIR` after `asv publish`"]
    missing = [module for module in SUITE_MODULES if module not in dom]
    problems = [f"the benchmark grid does not list {', '.join(missing)}"] if missing else []
    if "flot-base" not in dom:
        problems.append("the benchmark grid drew no graph thumbnails (no flot canvas)")
    return problems


def graph_problems(dom: str, benchmark: str, log_scale: bool = False) -> list[str]:
    graph = dom.split('id="main-graph"', 1)
    if len(graph) < 2:
        return ["the graph page has no main graph element"]
    if "flot-base" not in graph[1] or "flot-overlay" not in graph[1]:
        return [f"the graph page of {benchmark} drew no graph (no flot canvas in #main-graph)"]
    if benchmark.rsplit(".", 1)[-1] not in dom:
        return [f"the graph page does not name {benchmark}"]
    if log_scale and not log_scale_button_active(dom):
        return [f"the graph of {benchmark} is not on a log scale; run `gradcheck-bench dashboard localize` "
                "after `asv publish`"]
    return []


def log_scale_button_active(dom: str) -> bool:
    """asv's "log scale" button is pressed (asv marks it ``active`` when it draws a log y-axis)."""
    button = re.search(r'<a\b[^>]*\bid="log-scale"[^>]*>', dom)
    classes = re.search(r'\bclass="([^"]*)"', button.group(0)) if button else None
    return classes is not None and "active" in classes.group(1).split()


def check_dashboard(html_dir: Path, out_dir: Path, benchmark: str = DEFAULT_GRAPH,
                    chromium: str | None = None) -> DashboardCheck:
    """Load the grid and ``benchmark``'s graph page of the site in ``html_dir``; screenshots go to ``out_dir``."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium on PATH; on Debian: apt-get install -y chromium")
    if not (html_dir / "index.html").is_file() or not (html_dir / "index.json").is_file():
        raise FileNotFoundError(f"no published asv site in {html_dir}; run `asv publish` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = DashboardCheck()
    with serve(html_dir) as base_url:
        grid_png, graph_png = out_dir / "asv-grid.png", out_dir / "asv-graph.png"
        result.problems += grid_problems(look_at(chromium, base_url + "index.html", grid_png))
        result.problems += graph_problems(look_at(chromium, f"{base_url}index.html#{benchmark}", graph_png),
                                          benchmark, benchmark in log_scale_benchmarks(html_dir))
        result.screenshots += [grid_png, graph_png]
    return result


def run_localize(html_dir: Path, assets: Path = DEFAULT_ASSETS) -> int:
    """``gradcheck-bench dashboard localize``: exit 0 once index.html loads its assets locally
    and opens the accuracy graphs on a log scale; 2 (and a message) where there is no published site."""
    try:
        replaced = localize(html_dir, assets)
        logarithmic = open_on_log_scale(html_dir, assets)
    except FileNotFoundError as error:
        print(f"asv dashboard: {error}", file=sys.stderr)
        return 2
    print(f"{html_dir / 'index.html'}: {len(replaced)} CDN links now load from {LOCAL_ASSET_DIR}/; "
          f"{len(logarithmic)} accuracy graphs open on a log scale")
    return 0


def run_check(html_dir: Path, out: Path, benchmark: str = DEFAULT_GRAPH) -> int:
    """``gradcheck-bench dashboard check``: exit 0 graphs shown, 1 not, 2 no Chromium or no site."""
    try:
        result = check_dashboard(html_dir, out, benchmark)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as error:
        print(f"asv dashboard: {error}", file=sys.stderr)
        return 2
    for screenshot in result.screenshots:
        print(f"screenshot: {screenshot}")
    for problem in result.problems:
        print(f"PROBLEM  {problem}")
    print("dashboard: graphs shown" if result.passed else "dashboard: FAIL")
    return 0 if result.passed else 1
