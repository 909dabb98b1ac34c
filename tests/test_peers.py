"""The peer comparison: contestants give real verdicts and pass counts; tables are written."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from gradcheck_bench.tools import peers
from gradcheck_bench.cli import main


@pytest.fixture(scope="module")
def seed() -> peers.MLPCase:
    return peers.cases()["seed"]


def test_cases_are_the_seed_and_the_4_120_60_1_net() -> None:
    cases = peers.cases()
    assert (cases["seed"].n, cases["seed"].m) == (47, 3)
    assert (cases["4-120-60-1"].n, cases["4-120-60-1"].m, cases["4-120-60-1"].sizes) == (7921, 100, [4, 120, 60, 1])


def test_forward_flops_counts_the_matrix_products() -> None:
    assert peers.forward_flops([4, 120, 60, 1], 100) == 2 * 100 * (4 * 120 + 120 * 60 + 60)


def test_seed_style_loop_reproduces_the_exercise(seed: peers.MLPCase) -> None:
    run = peers.seed_style_loop(seed)
    for _ in range(2):  # each run reports its own passes, as the timing loop calls it repeatedly
        passed, passes = run()
        assert passed and passes == 2 * 47  # the exercise's two passes per parameter


def test_our_contestants_pass_and_count_their_passes(seed: peers.MLPCase) -> None:
    def second_run(contestant):  # a first run may also measure the engine's memory once
        run = contestant(seed)
        run()
        return run()

    (full_ok, full), (loop_ok, loop), (batched_ok, batched) = (
        second_run(peers.our_full_check), second_run(peers.our_engine("loop")), second_run(peers.our_engine("numpy-batched")))
    assert full_ok and loop_ok and batched_ok
    assert loop == batched  # counted two ways (calls of the cost, rows of a batch): the same passes
    assert 2 * 47 <= min(loop, full) and max(loop, full) <= 2 * 47 + 8  # 2 per parameter, a few checks of the point


def test_scipy_check_grad_counts_its_forward_differences(seed: peers.MLPCase) -> None:
    pytest.importorskip("scipy")
    passed, passes = peers.scipy_check_grad(seed)()
    assert passed and passes == 47 + 1


def test_torch_gradcheck_contestant(seed: peers.MLPCase) -> None:
    pytest.importorskip("torch")
    passed, passes = peers.torch_gradcheck(False)(seed)()
    assert passed and passes >= 2 * 47


def test_jax_check_grads_contestant(seed: peers.MLPCase) -> None:
    pytest.importorskip("jax")
    passed, passes = peers.jax_check_grads(seed)()
    assert passed and passes >= 1


def test_a_missing_framework_is_a_row_marked_unavailable(seed: peers.MLPCase, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(case: peers.MLPCase):
        raise ImportError("no module named torch")

    monkeypatch.setattr(peers, "contestants", lambda: {"torch gradcheck (slow)": (missing, "x")})
    table = peers.time_contestants(seed, repeats=1, budget_s=1.0)
    assert table.loc[0, "status"].startswith("unavailable")


def test_timing_table_and_files(seed: peers.MLPCase, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = {name: value for name, value in peers.contestants().items()
              if name in ("gradcheck-bench check (default)", "seed-style loop")}
    monkeypatch.setattr(peers, "contestants", lambda: chosen)
    table = peers.time_contestants(seed, repeats=3, budget_s=1.0)
    assert list(table["checker"]) == list(chosen)
    assert (table["median_s"] > 0).all() and (table["runs"] == 3).all()
    assert list(table["verdict"]) == ["pass", "pass"] and not table["wrong_verdict"].any()
    roofline = pd.DataFrame({"case": ["x"], "time_over_roofline": [1.0]})
    written = peers.write_results(tmp_path, table, roofline, peers.ratio_lines(table))
    assert sorted(p.name for p in written) == ["peers.csv", "peers.json", "peers.md", "roofline.csv", "roofline.json",
                                                "roofline.md"]
    text = (tmp_path / "peers.md").read_text()
    assert re.search(r"\| case\s*\|\s*n \|\s*m \| checker\s*\|", text) and "seed-style loop takes" in text
    assert len(pd.read_csv(tmp_path / "peers.csv")) == 2


def test_median_time_times_a_slow_checker_once() -> None:
    calls = []
    seconds, runs, result = peers.median_time(lambda: calls.append(1) or "done", repeats=5, budget_s=-1.0)
    assert runs == 1 and len(calls) == 1 and result == "done" and seconds >= 0


def test_markdown_tables_show_four_digits_and_blank_for_nan() -> None:
    from gradcheck_bench.tools.report import table_to_markdown

    rows = table_to_markdown(pd.DataFrame({"a": [1.23456789, np.nan], "b": ["x", "y"]})).splitlines()
    assert [cell.strip() for cell in rows[2].strip("|").split("|")] == ["1.235", "x"]
    assert [cell.strip() for cell in rows[3].strip("|").split("|")] == ["", "y"]


def test_cli_refuses_zero_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["peers", "--repeats", "0"]) == 2
    assert "--repeats: must be at least 1" in capsys.readouterr().err
