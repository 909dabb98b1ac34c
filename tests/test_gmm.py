"""ADBench's GMM objective: its reference values, every source, the planted bug, the points and the reader.

Expected values come from ADBench's published references (the packaged ``references.json``, copied
from ADBench's own tests) or from the input file's text, never from the code under test.
"""

import math

import numpy as np
import pytest

import gradcheck_bench as gb
from adbench_reference import ADBENCH_DATA, GMM
from gradcheck_bench.adbench import read_gmm_input
from gradcheck_bench.errors import InputError
from gradcheck_bench.models.gmm import MODEL, gmm_model, gmm_point, log_multivariate_gamma

adbench_test_input, reference_gradient = GMM.test_input, GMM.gradient


def test_numpy_and_jax_agree():
    pytest.importorskip("jax")
    for point in (adbench_test_input(), gmm_point(3, 4, n=50, seed=1)):
        result = gb.check("numpy", "jax", *point, model="gmm")
        assert result.passed and result.difference < 1e-12


def test_the_torch_fd_engine_runs_the_cost_under_vmap():
    pytest.importorskip("torch")
    params, X, Y = gmm_point(2, 5, n=40, seed=2)
    fd = gb.gradient("fd", params, X, Y, model="gmm", engine="torch")
    assert not fd.notes  # the engine ran the cost itself; it did not hand over to another
    assert gb.check("numpy", fd, params, X, Y, model="gmm").passed


def test_the_planted_bug_fails_and_names_icf_against_adbench_reference():
    params, X, Y = adbench_test_input()
    result = gb.check("numpy-buggy", reference_gradient(params), params, X, Y, model="gmm")
    assert not result.passed
    assert result.culprits == list(MODEL.planted_bug.culprits) == ["icf"]


def test_the_planted_bug_is_named_by_the_fd_oracle_on_a_generated_point():
    result = gb.check("numpy-buggy", "fd", *gmm_point(2, 5, n=30, seed=3), model="gmm")
    assert not result.passed and result.culprits == ["icf"]


def test_another_prior_is_differentiated_by_hand_correctly():
    model = gmm_model(gamma=2.5, m=3)
    assert model.name != "gmm"
    params, X, Y = gmm_point(3, 4, n=20, seed=4)
    assert gb.check("numpy", "fd", params, X, Y, model=model).passed
    assert gb.check("numpy", "complex-step", params, X, Y, model=model).difference < 1e-12
    assert model.cost(params, X, Y) != MODEL.cost(params, X, Y)


def test_log_multivariate_gamma_matches_torch():
    torch = pytest.importorskip("torch")
    for a, p in [(1.5, 2), (3.0, 5), (11.5, 20)]:
        expected = float(torch.special.multigammaln(torch.tensor(a, dtype=torch.float64), p))
        assert log_multivariate_gamma(a, p) == pytest.approx(expected, rel=1e-14)


# --------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------


@pytest.mark.parametrize("d, k, n", [(2, 5, 1000), (10, 3, 7), (1, 1, 1)])
def test_generated_points_have_the_documented_shapes(d, k, n):
    params, X, Y = gmm_point(d, k, n=n, seed=5)
    assert list(params) == ["alphas", "means", "icf"]
    assert params["alphas"].shape == (k,) and params["means"].shape == (k, d)
    assert params["icf"].shape == (k, d * (d + 1) // 2)
    assert X.shape == (n, d) and Y is None
    assert np.all((params["means"] >= 0) & (params["means"] < 1))
    assert np.isfinite(MODEL.cost(params, X, Y))


@pytest.mark.parametrize("call, message", [
    (lambda: gmm_point(0, 5), "positive integer d"),
    (lambda: gmm_point(2, 2.5), "positive integer k"),
    (lambda: gmm_point(2, 5, n=True), "positive integer n"),
    (lambda: gmm_model(gamma=0.0), "gamma must be a positive number"),
    (lambda: gmm_model(m=-1), "m must be a non-negative integer"),
])
def test_bad_sizes_and_priors_are_refused(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_generated_points_are_reproducible_and_differ_by_seed():
    a, b, c = gmm_point(2, 5, seed=6), gmm_point(2, 5, seed=6), gmm_point(2, 5, seed=7)
    for name in a[0]:
        np.testing.assert_array_equal(a[0][name], b[0][name])
        assert not np.array_equal(a[0][name], c[0][name])


def test_cases_start_with_adbench_test_input_and_are_named_by_size():
    names = list(MODEL.cases)
    assert names[0] == "gmm-adbench-test"
    assert all(name.startswith("gmm-d") and "-k" in name for name in names[1:])
    params, X, _ = MODEL.cases["gmm-d2-k5"]()
    assert params["means"].shape == (5, 2) and X.shape == (1000, 2)


@pytest.mark.parametrize("change, message", [
    (lambda p, X: ({**p, "icf": p["icf"][:, :-1]}, X), "icf must be"),
    (lambda p, X: ({**p, "means": p["means"].T}, X), "means must be"),
    (lambda p, X: ({k: v for k, v in p.items() if k != "alphas"}, X), "takes parameters"),
    (lambda p, X: (p, X[:, :1]), "means must be"),
])
def test_points_that_do_not_fit_are_refused_with_a_reason(change, message):
    params, X = change(*gmm_point(3, 2, n=4, seed=8)[:2])
    with pytest.raises(InputError, match=message):
        gb.check("numpy", "fd", params, X, None, model="gmm")


def test_labels_are_refused():
    params, X, _ = gmm_point(2, 2, n=4)
    with pytest.raises(InputError, match="no labels"):
        gb.gradient("numpy", params, X, np.ones((4, 1)), model="gmm")


# --------------------------------------------------------------------------
# Reading ADBench's files
# --------------------------------------------------------------------------


def test_read_adbench_reads_the_values_in_the_file():
    params, X, Y = adbench_test_input()
    np.testing.assert_array_equal(params["alphas"], [-0.649014, 1.181166, -0.758453])
    np.testing.assert_array_equal(params["means"][2], [0.538817, 0.419195])
    np.testing.assert_array_equal(params["icf"][1], [-1.509405, 0.875874, -0.242790])
    np.testing.assert_array_equal(X, [[1.175171, 2.029160]])
    assert Y is None
    np.testing.assert_array_equal(MODEL.cases["gmm-adbench-test"]()[1], X)


def test_the_mit_notice_travels_with_the_packaged_adbench_files():
    notice = ADBENCH_DATA.joinpath("LICENSE-ADBench.txt").read_text()
    assert "MIT License" in notice and "Microsoft Corporation" in notice


def write(tmp_path, text, name="input.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "2 2 3\n0.1\n0.2\n0 0\n1 1\n0 0 0\n0 0 0\n1 2\n3 4\n5 6\n1.0 0\n"


def test_a_file_with_one_point_line_is_adbench_replicate_point_mode(tmp_path):
    text = GOOD.replace("1 2\n3 4\n5 6\n", "1 2\n")
    _, X, _ = gb.read_adbench("gmm", write(tmp_path, text))
    np.testing.assert_array_equal(X, [[1, 2], [1, 2], [1, 2]])


def test_another_prior_is_refused_with_the_model_to_use(tmp_path):
    path = write(tmp_path, GOOD.replace("1.0 0\n", "2.5 3\n"))
    with pytest.raises(InputError, match=r"gamma=2\.5, m=3.*gmm_model\(gamma=2\.5, m=3\)"):
        gb.read_adbench("gmm", path)
    read = read_gmm_input(path)
    assert (read.gamma, read.m) == (2.5, 3) and read.X.shape == (3, 2)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("2 2\n", "three positive integers"),
    ("2 0 3\n", "three positive integers"),
    (GOOD.replace("0.2\n", "zero\n"), "'zero', which is not a number"),
    (GOOD.replace("0.2\n", "nan\n"), "must be finite"),
    (GOOD.replace("1 1\n", "1 1 1\n"), "line 5 has 3 number"),
    (GOOD.replace("1.0 0\n", ""), "after the icf rows it has 3 line"),
    (GOOD + "7 8\n", "after the icf rows it has 5 line"),
    (GOOD.replace("0 0 0\n", "", 1), "line 7 has 2 number"),
    (GOOD.replace("1.0 0\n", "-1 0\n"), "gamma must be positive"),
    (GOOD.replace("1.0 0\n", "1.0 0.5\n"), "m a non-negative integer"),
])
def test_malformed_files_say_what_is_wrong_and_where(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        gb.read_adbench("gmm", write(tmp_path, text))


def test_a_missing_file_or_a_directory_or_a_bad_name_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no file at"):
        gb.read_adbench("gmm", tmp_path / "absent.txt")
    with pytest.raises(InputError, match="is a directory"):
        gb.read_adbench("gmm", tmp_path)
    with pytest.raises(InputError, match="'gmm', 'lstm', 'ba', 'hand', not 'det'"):
        gb.read_adbench("det", write(tmp_path, GOOD))
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="not a text file"):
        gb.read_adbench("gmm", tmp_path / "binary.txt")


def test_the_cost_is_finite_where_every_component_is_far_from_a_point():
    # Without the log-sum-exp shift, exp(-|Qx|^2/2) underflows to 0 for every component and log(0) = -inf.
    params, X, Y = gmm_point(2, 3, n=2, seed=9)
    far = X + 1e3
    value = MODEL.cost(params, far, Y)
    assert np.isfinite(value) and value < -1e5
    assert math.isfinite(gb.check("numpy", "complex-step", params, far, Y, model="gmm").difference)
