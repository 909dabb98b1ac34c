"""The comparison report: rows, verdicts, unavailable frameworks, files written atomically, the CLI."""

import json
from pathlib import Path

import pandas as pd
import pytest

import gradcheck_bench as gb

from gradcheck_bench.tools import atomic_files
from gradcheck_bench.tools import report as report_module
from gradcheck_bench.cli import main
from gradcheck_bench.tools.compare import CANDIDATE_KINDS, REFERENCE_KINDS, compare_sources
from gradcheck_bench.errors import InputError, SourceError
from gradcheck_bench.sources.registry import SourceSpec, build_source, source_specs
from gradcheck_bench.models import get_model


def installed(kinds):
    return [name for name, spec in source_specs().items() if spec.kind in kinds and spec.is_available()]


def test_narrowed_run_has_one_row_per_case_candidate_reference():
    report = compare_sources(["seed", "linear1d"], ["numpy", "numpy-buggy"], ["fd"], repeats=2, show_progress=False)
    table = report.table
    # numpy-buggy handles only the MLP, so linear1d has one row.
    assert list(zip(table["case"], table["candidate"], table["reference"])) == [
        ("seed", "numpy", "fd"), ("seed", "numpy-buggy", "fd"), ("linear1d", "numpy", "fd"),
    ]
    assert table["as_expected"].all()
    assert list(table["parameters"]) == [47, 47, 1] and list(table["examples"]) == [3, 3, 1]
    # Counted passes: centered differences need 2 per parameter, plus a few checks of the point itself.
    passes = list(table["reference_forward_passes"])
    assert passes[0] == passes[1] and 2 * 47 <= passes[0] <= 2 * 47 + 6 and 2 <= passes[2] <= 2 + 6
    assert (table["candidate_seconds"] > 0).all() and (table["reference_first_call_seconds"] > 0).all()
    assert (table["candidate_repeats"] <= 2).all()


def test_the_planted_bugs_are_caught_by_every_reference_with_w2_and_b1_named():
    report = compare_sources(["seed", "fraud-s1-m16"], ["numpy-buggy"], None, repeats=1, show_progress=False)
    table = report.table
    assert sorted(set(table["reference"])) == sorted(installed(REFERENCE_KINDS))
    assert (table["verdict"] == "FAIL").all() and table["as_expected"].all()
    assert all(sorted(culprits.split()) == ["W2", "b1"] for culprits in table["culprits"])
    assert (table["worst_parameter"] == "b1").all()
    assert table["worst_parameter_scale"].round(6).eq(4.0).all()


def test_default_sources_are_every_installed_candidate_and_reference():
    report = compare_sources(["seed"], repeats=1, show_progress=False)
    candidates, references = installed(CANDIDATE_KINDS), installed(REFERENCE_KINDS)
    expected_pairs = {(c, r) for c in candidates for r in references if c != r}
    assert set(zip(report.table["candidate"], report.table["reference"])) == expected_pairs
    correct = report.table[report.table["candidate"] != "numpy-buggy"]
    is_autograd = correct["reference"].map(lambda name: gb.source_specs()[name].kind == "autograd")
    assert (correct[is_autograd]["difference"] <= 1e-12).all()
    assert (correct[~is_autograd]["difference"] < 1e-8).all()  # the finite-difference oracles


def test_jit_compile_time_is_reported_apart_from_run_time():
    pytest.importorskip("jax")
    table = compare_sources(["seed"], ["numpy"], ["jax"], repeats=3, show_progress=False).table
    row = table.iloc[0]
    assert row["reference_compile_seconds"] > 0
    assert row["reference_first_call_seconds"] >= row["reference_compile_seconds"]
    assert row["reference_seconds"] < row["reference_first_call_seconds"]
    assert pd.isna(row["candidate_compile_seconds"])  # numpy compiles nothing


def test_a_fd_failure_at_a_relu_kink_is_explained():
    # One hidden pre-activation of this case sits 1.4e-5 from zero: a step of 1e-5 crosses it
    # (the default step, 2^-17 = 7.6e-6, happens not to).
    report = compare_sources(["fraud-s3-m1024"], ["numpy"], ["fd"], repeats=1, eps=1e-5, show_progress=False)
    row = report.table.iloc[0]
    assert row["verdict"] == "FAIL" and not row["as_expected"] and row["relu_margin"] < 1e-4
    assert "UNEXPECTED" in report.text() and "from the ReLU kink" in report.text()


def test_missing_frameworks_are_listed_as_unavailable_not_errors(monkeypatch):
    original = SourceSpec.is_available
    monkeypatch.setattr(SourceSpec, "is_available", lambda spec: spec.name != "torch" and original(spec))
    report = compare_sources(["seed"], ["numpy", "torch"], ["fd", "torch"], repeats=1, show_progress=False)
    assert "torch" not in set(report.table["candidate"]) | set(report.table["reference"])
    assert 'pip install "gradcheck-bench[torch]"' in report.unavailable["torch"]
    assert "unavailable: torch" in report.text()
    with pytest.raises(ImportError, match=r'pip install "gradcheck-bench\[torch\]"'):
        build_source("torch", get_model("mlp"))


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"cases": ["nope"]}, InputError, "unknown case"),
        ({"candidates": ["nope"]}, SourceError, "unknown gradient source 'nope'"),
        ({"repeats": 0}, InputError, "repeats must be a positive integer"),
        ({"threshold": -1.0}, InputError, "threshold must be a positive number"),
    ],
)
def test_bad_arguments_are_clear_errors(arguments, error, message):
    with pytest.raises(error, match=message):
        compare_sources(**{"cases": ["seed"], **arguments})


def test_cli_runs_end_to_end_and_writes_csv_json_markdown(tmp_path, capsys):
    status = main(["compare", "--cases", "seed,linear1d", "--candidates", "numpy,numpy-buggy",
                   "--references", "fd", "--repeats", "2", "--output", str(tmp_path)])
    captured = capsys.readouterr()
    out = captured.out
    assert status == 0 and captured.err == ""  # no progress bar when stderr is not a terminal
    assert "numpy-buggy" in out and "b1 x4.000" in out and "every verdict as expected" in out
    csv = pd.read_csv(tmp_path / "compare.csv")  # plain: no options needed
    rows = json.loads((tmp_path / "compare.json").read_text())
    markdown = (tmp_path / "compare.md").read_text()
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert len(csv) == len(rows) == 3
    assert list(csv["verdict"]) == [row["verdict"] for row in rows] == ["PASS", "FAIL", "PASS"]
    for name in ("command", "commit", "versions", "platform", "cpu_count", "load_average_at_start"):
        assert name in provenance
    assert {"numpy", "torch", "jax"} <= set(provenance["versions"]) and "compare" in provenance["command"]
    assert "| seed " in markdown and "| mlp " in markdown
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare.csv", "compare.json", "compare.md", "provenance.json"]


def test_cli_strict_exits_1_on_an_unexpected_verdict(tmp_path):
    argv = ["compare", "--cases", "fraud-s3-m1024", "--candidates", "numpy", "--references", "fd",
            "--eps", "1e-5", "--repeats", "1", "--output", str(tmp_path)]  # a step that crosses a kink
    assert main(argv) == 0
    assert main(argv + ["--strict"]) == 1


def test_cli_bad_case_is_exit_2_with_a_message(tmp_path, capsys):
    assert main(["compare", "--cases", "nope", "--output", str(tmp_path)]) == 2
    assert "unknown case(s) nope" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def small_report():
    return compare_sources(["seed"], ["numpy-buggy"], ["fd"], repeats=1, show_progress=False)


def test_a_crash_mid_write_leaves_the_old_files_whole(tmp_path, monkeypatch):
    small_report().write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(_descriptor):  # the new bytes are in the temporary file, not yet in place
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_files.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        small_report().write(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary files left either


def test_a_report_that_cannot_be_rendered_changes_no_file(tmp_path, monkeypatch):
    small_report().write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(report_module, "table_to_markdown", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        small_report().write(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_the_committed_results_are_a_real_run():
    results = Path(__file__).resolve().parents[1] / "results" / "compare"
    if not results.exists():
        pytest.skip("no committed compare results")
    csv = pd.read_csv(results / "compare.csv")
    rows = json.loads((results / "compare.json").read_text())
    assert len(csv) == len(rows) > 0 and (results / "provenance.json").is_file()
    buggy = csv[csv["candidate"] == "numpy-buggy"]
    assert (buggy["verdict"] == "FAIL").all() and set(buggy["reference"]) >= {"fd"}


def test_an_interrupted_compare_says_where_it_stopped_and_leaves_the_files(tmp_path, monkeypatch, capsys):
    import gradcheck_bench.tools.compare as compare_module

    assert main(["compare", "--cases", "seed", "--candidates", "numpy", "--references", "fd",
                 "--repeats", "1", "--output", str(tmp_path)]) == 0
    before = {path.name: path.read_text() for path in tmp_path.iterdir()}
    capsys.readouterr()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_module, "measure", interrupted)
    status = main(["compare", "--cases", "seed", "--candidates", "numpy", "--references", "fd",
                   "--repeats", "1", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 130
    assert "compare stopped at case 'seed', source 'numpy' (0 of 2 measurements done)" in err
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == before
