"""ADBench's LSTM objective: its reference values, every source, the planted bug, the points and the reader.

Expected values come from ADBench's published references (the packaged ``references.json``, copied
from ADBench's own tests), from the input file's text, or from the formula written out by hand here,
never from the code under test.
"""

import math

import numpy as np
import pytest

import gradcheck_bench as gb
from adbench_reference import ADBENCH_DATA, LSTM, flat
from gradcheck_bench.errors import InputError
from gradcheck_bench.models.lstm import MODEL, lstm_point

adbench_test_input, reference_gradient = LSTM.test_input, LSTM.gradient


def test_the_zero_entries_of_the_reference_are_exactly_zero_here():
    # The text's characters are 7-bit: the top bits of every input are 0, so their input weights
    # (forget and output gates of layer 1) get exactly no gradient, in ADBench's reference and here.
    params, X, Y = adbench_test_input()
    reference = flat(reference_gradient(params), params)
    ours = flat(gb.gradient("numpy", params, X, Y, model="lstm"), params)
    assert np.count_nonzero(reference == 0) > 0
    np.testing.assert_array_equal(ours[reference == 0], 0.0)


def test_jax_agrees_on_a_short_sequence():
    pytest.importorskip("jax")
    result = gb.check("numpy", "jax", *lstm_point(2, 6, seed=1), model="lstm")
    assert result.passed and result.difference < 1e-12


def test_the_cost_is_complex_safe():
    result = gb.check("numpy", "complex-step", *lstm_point(2, 8, seed=2), model="lstm")
    assert result.difference < 1e-12


def test_the_torch_fd_engine_runs_the_cost_under_vmap():
    pytest.importorskip("torch")
    params, X, Y = lstm_point(2, 12, seed=3)
    fd = gb.gradient("fd", params, X, Y, model="lstm", engine="torch")
    assert not fd.notes  # the engine ran the cost itself; it did not hand over to another
    assert gb.check("numpy", fd, params, X, Y, model="lstm").passed


def test_the_planted_bug_fails_and_names_both_tensors_against_adbench_reference():
    params, X, Y = adbench_test_input()
    result = gb.check("numpy-buggy", reference_gradient(params), params, X, Y, model="lstm")
    assert not result.passed
    assert sorted(result.culprits) == sorted(MODEL.planted_bug.culprits) == ["extra_params", "main_params"]


@pytest.mark.parametrize("engine", ["loop", "torch"])
def test_the_planted_bug_is_named_by_the_fd_oracle_on_a_generated_point(engine):
    # The failing check takes a second look at both tensors (h and h/2 for every coordinate): with the
    # torch engine that once sized its chunks for the wrong number of coordinates and raised.
    if engine == "torch":
        pytest.importorskip("torch")
    result = gb.check("numpy-buggy", "fd", *lstm_point(1, 10, seed=4), model="lstm", engine=engine)
    assert not result.passed and sorted(result.culprits) == ["extra_params", "main_params"]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def test_the_normaliser_starts_its_sum_at_two_as_adbench_does():
    # One layer, one bit, two characters, written out from ADBench's lstm_objective.py by hand.
    w_f, w_i, w_o, w_g, b_f, b_i, b_o, b_g = 0.3, -0.2, 0.5, 0.7, 0.1, 0.2, -0.3, 0.4
    scale_in, scale_out, offset_out, hidden, cell, y0, y1 = 0.9, 1.1, -0.2, 0.25, -0.5, 1.0, 1.0
    params = {"main_params": np.array([[w_f, w_i, w_o, w_g], [b_f, b_i, b_o, b_g]]),
              "extra_params": np.array([[scale_in], [scale_out], [offset_out]])}
    X, Y = np.array([[hidden], [cell]]), np.array([[y0], [y1]])
    x = y0 * scale_in
    forget, ingate = sigmoid(x * w_f + b_f), sigmoid(hidden * w_i + b_i)  # cat(x, h, x, h) * weight + bias
    outgate, change = sigmoid(x * w_o + b_o), math.tanh(hidden * w_g + b_g)
    new_cell = cell * forget + ingate * change
    ypred = outgate * math.tanh(new_cell) * scale_out + offset_out
    expected = -y1 * (ypred - math.log(2.0 + math.exp(ypred)))
    assert MODEL.cost(params, X, Y) == pytest.approx(expected, rel=1e-14)
    assert expected != pytest.approx(-y1 * (ypred - math.log(math.exp(ypred))), rel=1e-3)  # not the textbook one


# --------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------


@pytest.mark.parametrize("l, c, b", [(2, 1024, 14), (4, 5, 14), (1, 2, 3)])
def test_generated_points_have_the_documented_shapes(l, c, b):
    params, X, Y = lstm_point(l, c, b=b, seed=5)
    assert list(params) == ["main_params", "extra_params"]
    assert params["main_params"].shape == (2 * l, 4 * b) and params["extra_params"].shape == (3, b)
    assert X.shape == (2 * l, b) and Y.shape == (c, b)
    assert all(np.all((v >= 0) & (v < 1)) for v in (*params.values(), X))
    assert set(np.unique(Y)) <= {0.0, 1.0}
    assert np.isfinite(MODEL.cost(params, X, Y))


def test_generated_sequences_are_printable_characters_most_significant_bit_first():
    _, _, Y = lstm_point(2, 300, seed=6)
    codes = Y @ (2.0 ** np.arange(13, -1, -1))
    assert np.all((codes >= 32) & (codes < 127))
    assert len(np.unique(codes)) > 50


@pytest.mark.parametrize("arguments, message", [((0, 10), "integer l >= 1"), ((2, 1), "integer c >= 2"),
                                                 ((2, 10, 0), "integer b >= 1"), ((2.0, 10), "integer l >= 1")])
def test_bad_sizes_are_refused(arguments, message):
    with pytest.raises(InputError, match=message):
        lstm_point(*arguments)


def test_generated_points_are_reproducible_and_differ_by_seed():
    a, b, c = lstm_point(2, 20, seed=7), lstm_point(2, 20, seed=7), lstm_point(2, 20, seed=8)
    for name in a[0]:
        np.testing.assert_array_equal(a[0][name], b[0][name])
        assert not np.array_equal(a[0][name], c[0][name])
    np.testing.assert_array_equal(a[2], b[2])


def test_cases_start_small_then_adbench_test_input_and_are_named_by_size():
    names = list(MODEL.cases)
    assert names[:2] == ["lstm-l2-c4", "lstm-adbench-l2-c1024"]  # the first, cheap one is a default compare's
    assert MODEL.cases["lstm-l2-c4"]()[2].shape == (4, 14)  # c = 4 characters of b = 14 bits
    assert all(name.startswith("lstm-l") and "-c" in name for name in names[2:])


@pytest.mark.parametrize("change, message", [
    (lambda p, X, Y: ({**p, "main_params": p["main_params"][:3]}, X, Y), "main_params must be"),
    (lambda p, X, Y: ({**p, "extra_params": p["extra_params"][:2]}, X, Y), "extra_params must be"),
    (lambda p, X, Y: (p, X[:2], Y), "initial state, must be"),
    (lambda p, X, Y: (p, X, Y[:, :5]), "the sequence, must be"),
    (lambda p, X, Y: (p, X, Y[:1]), "c >= 2"),
    (lambda p, X, Y: ({"main_params": p["main_params"]}, X, Y), "takes parameters"),
])
def test_points_that_do_not_fit_are_refused_with_a_reason(change, message):
    point = change(*lstm_point(2, 6, seed=9))
    with pytest.raises(InputError, match=message):
        gb.check("numpy", "fd", *point, model="lstm")


# --------------------------------------------------------------------------
# Reading ADBench's files
# --------------------------------------------------------------------------


def test_read_adbench_reads_the_values_in_the_file():
    params, X, Y = adbench_test_input()
    assert params["main_params"].shape == (4, 56) and params["extra_params"].shape == (3, 14)
    assert X.shape == (4, 14) and Y.shape == (1024, 14)
    assert params["main_params"][0, 0] == 0.7477620204927391
    assert X[0, 0] == 0.9368207218464604 and X[3, 0] == 0.5607967723731909
    np.testing.assert_array_equal(Y[0], [0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0])  # "T", 14 bits
    np.testing.assert_array_equal(MODEL.cases["lstm-adbench-l2-c1024"]()[2], Y)


GOOD = "1 2 1\n\n1 2 3 4\n5 6 7 8\n\n0.1\n0.2\n0.3\n\n0.5\n0.6\n\n0\n1\n"


def test_a_small_file_is_read_block_by_block(tmp_path):
    path = tmp_path / "lstm.txt"
    path.write_text(GOOD)
    params, X, Y = gb.read_adbench("lstm", path)
    np.testing.assert_array_equal(params["main_params"], [[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(params["extra_params"], [[0.1], [0.2], [0.3]])
    np.testing.assert_array_equal(X, [[0.5], [0.6]])
    np.testing.assert_array_equal(Y, [[0], [1]])


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("1 2 1\n", "1 1 1\n"), "at least 2"),
    (GOOD.replace("1 2 1\n", "1 2\n"), "three positive integers"),
    (GOOD.replace("5 6 7 8\n", "5 6 7\n"), "line 4 has 3 number.*main params"),
    (GOOD.replace("\n0\n1\n", "\n0\n"), "ends before the sequence"),
    (GOOD + "1\n", "come after the last block"),
    (GOOD.replace("0.2\n", "0.2x\n"), "'0.2x', which is not a number"),
])
def test_malformed_files_say_what_is_wrong_and_where(tmp_path, text, message):
    path = tmp_path / "lstm.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        gb.read_adbench("lstm", path)


def test_a_gmm_file_read_as_lstm_is_a_clear_error():
    with pytest.raises(InputError, match="not an ADBench input file as expected"):
        gb.read_adbench("lstm", ADBENCH_DATA.joinpath("gmm_test.txt"))
