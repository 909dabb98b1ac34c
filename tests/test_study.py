"""The planted-bug catalogue and the study command's outputs."""

from __future__ import annotations

import numpy as np
import re

import pandas as pd
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.mlp import numpy_backprop, random_case
from gradcheck_bench.cli import main
from gradcheck_bench.tools.planted_bugs import CATALOGUE, bug_named
from gradcheck_bench.tools.study import detection_table, markdown_table, step_sweep


@pytest.fixture(scope="module")
def net():
    return random_case((4, 8, 8, 1), 10, 0)


def test_catalogue_has_at_least_ten_distinct_kinds():
    assert len({bug.name for bug in CATALOGUE}) >= 10


@pytest.mark.parametrize("bug", CATALOGUE, ids=lambda b: b.name)
def test_each_bug_corrupts_exactly_its_tensors(bug, net):
    correct = numpy_backprop(*net)
    buggy = bug(*net)
    changed = {name for name in correct if not np.array_equal(correct[name], buggy[name])}
    assert changed == set(bug.tensors)


def test_detectable_bugs_are_named_by_complex_step(net):
    for bug in CATALOGUE:
        result = gb.check(bug, "complex-step", *net)
        if bug.name == "1e-8 relative error everywhere":
            assert result.passed  # the control: below any threshold
        else:
            assert not result.passed and set(result.culprits) <= set(bug.tensors), bug.name


def test_unknown_bug_name_is_a_clear_error():
    with pytest.raises(gb.InputError, match="no planted bug"):
        bug_named("off by one")


def test_step_sweep_shows_the_v_curve():
    sweep = step_sweep(np.array([1e-2, 1e-5, 1e-11]), show=False)
    fd64 = sweep[sweep["oracle"].str.startswith("fd (centered") & (sweep["dtype"] == "float64")].set_index("step")["difference"]
    assert fd64[1e-5] < fd64[1e-2] and fd64[1e-5] < fd64[1e-11]  # truncation left, round-off right
    cs = sweep[(sweep["oracle"] == "complex-step") & (sweep["dtype"] == "float64")].set_index("step")["difference"]
    assert cs[1e-11] < 1e-15 < fd64[1e-11]  # no round-off wall for the complex step


def test_markdown_table_puts_the_index_first():
    frame = pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"], name="row"))
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in markdown_table(frame).splitlines()]
    assert rows[0] == ["row", "a"] and rows[2:] == [["x", "1"], ["y", "2"]]


def test_study_command_writes_csv_markdown_and_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["study", "--out", str(tmp_path), "--nets", "1"]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"step_sweep.csv", "step_sweep.png", "detection.csv", "detection_raw.csv", "detection.png",
            "kinks.csv", "study.md"} <= names
    assert (tmp_path / "step_sweep.png").read_bytes()[:4] == b"\x89PNG"
    raw = pd.read_csv(tmp_path / "detection_raw.csv")
    correct = raw[raw["gradient"].str.startswith("correct")]
    assert not correct["detected"].any()  # no false failures
    table = detection_table(raw)
    assert table.loc["seed bugs", "fd"].startswith("1/1")
    assert re.search(r"\| fd, default step\s*\|", (tmp_path / "study.md").read_text())


def test_study_rejects_zero_nets(tmp_path):
    assert main(["study", "--out", str(tmp_path), "--nets", "0"]) == 2


def test_an_interrupted_study_says_where_it_stopped(tmp_path, monkeypatch):
    import pytest

    import gradcheck_bench.tools.study as study_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(study_module, "detection", interrupted)
    with pytest.raises(KeyboardInterrupt, match="study stopped during the detection table"):
        study_module.run_study(tmp_path, nets=1, show=False)
    assert not any(tmp_path.iterdir())


def test_the_detection_heatmap_reads_green_where_the_verdict_is_right():
    pytest.importorskip("matplotlib")
    from gradcheck_bench.tools.study import CORRECT, METHODS, detection_figure

    control = next(bug.name for bug in CATALOGUE if bug.control)
    # The correct gradient and the control never fail (right); one bug is always caught (right), one never (wrong).
    outcomes = {CORRECT: False, control: False, "caught": True, "missed": False}
    raw = pd.DataFrame([{"gradient": gradient, "method": method, "detected": detected}
                        for gradient, detected in outcomes.items() for method in METHODS])
    figure = detection_figure(raw)
    image = figure.axes[0].images[0]
    colours = image.to_rgba(image.get_array())
    green = lambda rgba: rgba[1] > rgba[0]  # noqa: E731
    for row, right in enumerate([True, True, True, False]):
        assert all(green(colour) == right for colour in colours[row]), list(outcomes)[row]
    assert [text.get_text() for text in figure.axes[0].texts][:1] == ["0%"]  # the cells still print the fail share
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_the_taylor_column_passes_the_correct_gradient_and_fails_a_factor_two(net):
    from gradcheck_bench.tools.study import METHODS

    taylor = METHODS["taylor"]
    assert taylor(numpy_backprop, *net, seed=0).passed
    outcome = taylor(bug_named("factor-2 in dW2"), *net, seed=0)
    assert not outcome.passed and outcome.culprits == ()  # the order says wrong; it names no tensor
    assert outcome.forward_passes > 0  # counted by the wrapper


def test_a_one_percent_float32_scale_error_is_named_by_the_float32_column(net):
    from gradcheck_bench.tools.study import METHODS

    bug = bug_named("1% in dW1")
    outcome = METHODS["fd, float32"](bug, *random_case((4, 16, 16, 1), 20, 3), seed=3)
    assert not outcome.passed and outcome.culprits == ("W1",)
