"""``gradcheck-bench derivatives``: passes counted per kind and oracle, and the alternating timing against torch.

The bounds on the counts come from what each oracle does (two passes per coordinate for a centered column,
one per coordinate for a complex step), not from the tool's code; the timings themselves are measurements,
so only their shape is tested here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from gradcheck_bench.cli import REGENERATE, main
from gradcheck_bench.tools import derivatives

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def passes() -> pd.DataFrame:
    return derivatives.passes_table()


def test_every_kind_meets_every_oracle_on_the_softmax_case_and_the_hvp_on_the_seed_case(passes):
    softmax = passes[passes["case"] == "softmax-k10-d20-m30"]
    assert sorted(set(softmax["kind"])) == ["gradient", "hvp", "jacobian", "jvp", "vjp"]
    assert len(softmax) == 5 * 4 and set(softmax["n"]) == {10 * 20 + 10}
    seed = passes[passes["case"] != "softmax-k10-d20-m30"]
    assert set(seed["kind"]) == {"hvp"} and len(seed) == 4 and set(seed["n"]) == {47}
    assert set(zip(passes["oracle"], passes["mode"])) == {("fd", "full"), ("complex-step", "full"),
                                                          ("richardson", "full"), ("fd", "fast")}


def test_a_kind_an_oracle_does_not_give_is_a_row_saying_so(passes):
    missing = passes[passes["checked"].str.startswith("not given")]
    assert set(zip(missing["kind"], missing["oracle"])) == {("hvp", "complex-step"), ("hvp", "richardson")}
    assert missing["oracle_passes"].isna().all() and missing["verdict"].isna().all()


def test_every_check_passes_and_its_passes_are_the_preparation_and_the_oracle(passes):
    given = passes[passes["oracle_passes"].notna()]
    assert (given["verdict"] == "pass").all()
    # the hand-written candidate evaluates no counted pass, so nothing is left unattributed
    assert (given["check_passes"] == given["setup_passes"] + given["oracle_passes"]).all()


def test_the_counts_are_what_each_oracle_does(passes):
    softmax = passes[passes["case"] == "softmax-k10-d20-m30"].set_index(["kind", "oracle", "mode"])
    n = 210
    assert 2 * n <= softmax.loc[("jacobian", "fd", "full"), "oracle_passes"] <= 2 * n + 3   # a column per coordinate
    # one complex pass each, and the analyticity probe along one direction (a complex pass, its cost at the point,
    # and two real centered differences: 6 passes)
    assert n <= softmax.loc[("jacobian", "complex-step", "full"), "oracle_passes"] <= n + 3 + 6
    assert 1 <= softmax.loc[("jvp", "complex-step", "full"), "oracle_passes"] <= 1 + 6  # one complex pass, the probe
    for kind in ("gradient", "jacobian", "vjp", "hvp"):  # the cheap mode: a few passes, never 2n
        assert softmax.loc[(kind, "fd", "fast"), "oracle_passes"] <= 4 * 2 + 4
        assert softmax.loc[(kind, "fd", "fast"), "checked"] == "4 random projections"
    assert softmax.loc[("jvp", "fd", "fast"), "checked"] == "in full (no cheaper mode)"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("derivatives")
    derivatives.run_derivatives(out, rounds=1, fast_rounds=2, threads=(1,))
    return out


def test_the_command_writes_passes_speed_and_provenance(written):
    for stem in ("passes", "speed", "speed_rounds"):
        assert {path.suffix for path in written.glob(f"{stem}.*")} == {".csv", ".json", ".md"}
    record = json.loads((written / "provenance.json").read_text())
    assert record["load_average_at_start"] is not None and record["settings"]["rounds"] == 1
    assert "load_average_at_finish" in record
    passes = pd.read_csv(written / "passes.csv")
    assert passes["oracle_passes"].dropna().map(float.is_integer).all()  # whole numbers, blank where not given


def test_the_speed_table_gives_both_medians_and_the_median_ratio(written):
    speed = pd.read_csv(written / "speed.csv")
    assert list(speed["comparison"]) == ["full Jacobian check", "cheap mode", "cheap mode, one projection"]
    assert (speed["status"] == "ok").all() and (speed["ours_verdict"] == "pass").all()
    assert (speed["torch_verdict"] == "pass").all() and list(speed["rounds"]) == [1, 2, 2]
    assert (speed["ours_fastest_s"] <= speed["ours_median_s"]).all()
    rounds = pd.read_csv(written / "speed_rounds.csv")
    for name, rows in rounds.groupby("comparison"):
        summary = speed.set_index("comparison").loc[name]
        assert summary["torch_over_ours"] == pytest.approx((rows["torch_s"] / rows["ours_s"]).median())
        assert summary["ours_median_s"] == pytest.approx(rows["ours_s"].median())


def test_regenerate_and_the_results_page_know_the_folder():
    assert REGENERATE["derivatives"] == ["derivatives"]
    page = (ROOT / "docs" / "results.md").read_text()
    assert re.search(r"^\| `derivatives/` \| `gradcheck-bench derivatives` \|", page, re.M)


def test_the_command_refuses_a_round_count_of_zero(capsys):
    assert main(["derivatives", "--rounds", "0"]) == 2
    assert "--rounds" in capsys.readouterr().err


def test_the_speed_page_says_what_the_ratio_is_and_the_load(written):
    page = (written / "speed.md").read_text()
    assert "median over the rounds of torch's time over ours" in page and "Load average" in page
