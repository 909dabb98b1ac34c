"""The growth plot and table writers (the timings themselves are benchmarks, not tests)."""

from __future__ import annotations

import pandas as pd
import pytest

from gradcheck_bench.counting import record_passes
from gradcheck_bench.tools import growth as fd_growth


def test_growth_plot_is_a_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    table = pd.DataFrame({"engine": ["structured", "structured", "loop"], "n": [47, 7921, 47],
                          "s_per_pass": [1e-6, 2e-6, 2e-5]})
    path = fd_growth.plot_growth(table, tmp_path / "growth.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timed_gradient_runs_the_named_engine_and_counts_its_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    engines = []

    def fake_fd(engine, progress):
        engines.append(engine)
        return lambda params, X, Y: record_passes(7)  # an oracle that evaluates 7 passes

    monkeypatch.setattr(fd_growth, "fd", fake_fd)
    seconds, passes = fd_growth.timed_gradient({}, None, None, "structured", repeats=3)
    assert seconds >= 0 and passes == 7  # what the oracle reported while it ran, not a formula
    assert engines == ["structured"]


def test_growth_nets_span_47_to_about_1e5_parameters() -> None:
    counts = [sum(a * b + a for a, b in zip(sizes[1:], sizes[:-1])) for sizes in fd_growth.GROWTH_SIZES]
    assert counts[0] == 47 and 8e4 <= counts[-1] <= 1.2e5 and counts == sorted(counts)
