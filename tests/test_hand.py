"""ADBench's hand tracking objective: its reference residuals and Jacobians, every source, the planted bug, the
reader and the points.

Expected values come from ADBench's published references (the packaged ``references.json``, copied from
ADBench's own tests: residuals and dense Jacobians in ADBench's layout), from the input files' text, from the
hand model's structure as ADBench documents it, or from closed forms written out here; never from the code
under test. The reference layout is unpacked into our blocks by this file's own :func:`reference_blocks`.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import gradcheck_bench as gb
from adbench_reference import ADBENCH_DATA, ADBENCH_TOLERANCE
from gradcheck_bench.adbench import packaged_references
from gradcheck_bench.errors import InputError
from gradcheck_bench.models.hand import MODEL, adbench_jacobian, hand_point
from gradcheck_bench.installed import module_installed

VARIANTS = {"simple": "hand_test.txt", "complicated": "hand_complicated.txt"}
THETA = 26


def reference(variant: str) -> dict:
    return packaged_references()[VARIANTS[variant]]


def adbench_input(variant: str):
    return gb.read_adbench("hand", ADBENCH_DATA.joinpath(VARIANTS[variant]))


def reference_blocks(variant: str, params) -> dict[str, np.ndarray]:
    """ADBench's dense Jacobian as our blocks: theta's (3N, 26); the us columns unpacked to (3N, N, 2)."""
    matrix = np.array(reference(variant)["jacobian"])
    if "us" not in params:
        assert matrix.shape[1] == THETA
        return {"theta": matrix}
    rows, n = matrix.shape[0], params["us"].shape[0]
    assert matrix.shape[1] == THETA + 2 and rows == 3 * n
    us = np.zeros((rows, n, 2))
    for row in range(rows):
        us[row, row // 3] = matrix[row, :2]  # row r belongs to point r // 3 (ADBench's packing)
    return {"theta": matrix[:, 2:], "us": us}


def sources():
    return ["numpy", "complex-step", *(framework for framework in ("torch", "jax") if module_installed(framework))]


# --------------------------------------------------------------------------
# ADBench's reference values
# --------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_residuals_reproduce_adbench_reference(variant):
    residuals = MODEL.function(*adbench_input(variant))
    expected = np.array(reference(variant)["objective"])
    assert residuals.shape == expected.shape == (6,)
    assert np.max(np.abs(residuals - expected)) < ADBENCH_TOLERANCE
    np.testing.assert_allclose(residuals, expected, rtol=0, atol=1e-13)  # stored to 17 digits, computed in float64


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("source", ["numpy", "torch", "jax", "complex-step"])
def test_exact_sources_reproduce_adbench_reference_jacobian(source, variant):
    if source in ("torch", "jax"):
        pytest.importorskip(source)
    params, X, Y = adbench_input(variant)
    found = gb.gradient(source, params, X, Y, model="hand", derivative="jacobian")
    expected = reference_blocks(variant, params)
    for name in params:
        assert found[name].shape == expected[name].shape
        assert np.max(np.abs(found[name] - expected[name])) < ADBENCH_TOLERANCE
        np.testing.assert_allclose(found[name], expected[name], rtol=0, atol=1e-13)


@pytest.mark.parametrize("variant", VARIANTS)
def test_fd_reproduces_adbench_reference_jacobian_within_its_error_bars(variant):
    params, X, Y = adbench_input(variant)
    fd = gb.gradient("fd", params, X, Y, model="hand", derivative="jacobian")
    expected = reference_blocks(variant, params)
    assert max(np.max(np.abs(fd[name] - expected[name])) for name in params) < ADBENCH_TOLERANCE
    assert gb.check("fd", expected, params, X, Y, model="hand", derivative="jacobian").passed
    result = gb.check("numpy", "fd", params, X, Y, model="hand", derivative="jacobian")
    assert result.passed, result.summary()


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_converter_gives_adbench_dense_layout(variant):
    params, X, Y = adbench_input(variant)
    expected = np.array(reference(variant)["jacobian"])
    np.testing.assert_array_equal(adbench_jacobian(reference_blocks(variant, params)), expected)  # round trip
    ours = adbench_jacobian(MODEL.derivatives["jacobian"](params, X, Y))
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_jacobian_is_zero_exactly_where_adbench_is(variant):
    # a column is nonzero only for the points its parameter moves: the global ones for all, a finger's only
    # where its bones skin the point's vertices (the simple input: ring and pinky; the complicated: thumb,
    # index and pinky)
    params, X, Y = adbench_input(variant)
    ours = adbench_jacobian(MODEL.derivatives["jacobian"](params, X, Y))
    expected = np.array(reference(variant)["jacobian"])
    np.testing.assert_array_equal(ours != 0, expected != 0)
    translation = ours[:, -23:-20]  # theta[3:6]: -1 on the matching coordinate, 0 elsewhere
    np.testing.assert_array_equal(translation, -np.tile(np.eye(3), (2, 1)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_gradient_of_the_least_squares_cost_is_the_reference_jacobian_times_residuals(variant):
    params, X, Y = adbench_input(variant)
    residuals = np.array(reference(variant)["objective"])
    blocks = reference_blocks(variant, params)
    expected = {name: np.tensordot(residuals, blocks[name], axes=1) for name in params}
    assert MODEL.cost(params, X, Y) == pytest.approx(0.5 * residuals @ residuals, rel=1e-13)
    assert gb.check("numpy", expected, params, X, Y, model="hand").passed
    for source in sources()[1:]:
        assert gb.check("numpy", source, params, X, Y, model="hand").passed, source


# --------------------------------------------------------------------------
# The planted bug
# --------------------------------------------------------------------------

# The fingers' second bones take two angles (x and z); the slip (Rx Ry Rz for Rz Ry Rx) changes only their
# derivatives, where both angles are nonzero: theta[6 + 4f] and theta[7 + 4f] for finger f.
TWO_ANGLE_COLUMNS = {6 + 4 * finger + k for finger in range(5) for k in (0, 1)}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("reference_source", ["fd", "adbench"])
def test_the_planted_euler_order_bug_fails_naming_theta_and_a_two_angle_column(variant, reference_source):
    params, X, Y = adbench_input(variant)
    against = "fd" if reference_source == "fd" else reference_blocks(variant, params)
    result = gb.check("numpy-buggy", against, params, X, Y, model="hand", derivative="jacobian")
    assert not result.passed and result.culprits == ["theta"] == list(MODEL.planted_bug.culprits)
    output_index, element = result.rows["theta"]["worst_index"][:1], result.rows["theta"]["worst_index"][1:]
    assert element[0] in TWO_ANGLE_COLUMNS
    assert f"at output {list(output_index)}, element {list(element)}" in result.summary()


def test_the_planted_bug_fails_the_gradient_on_a_generated_point():
    result = gb.check("numpy-buggy", "fd", *hand_point(50, seed=3), model="hand")
    assert not result.passed and result.culprits == ["theta"]


# --------------------------------------------------------------------------
# The global rotation's small-angle branch, and generated points
# --------------------------------------------------------------------------


@pytest.mark.parametrize("norm", [0.0, 5e-5])
def test_below_the_small_rotation_threshold_the_rotation_is_the_identity(norm):
    params, X, Y = adbench_input("simple")
    params["theta"][:3] = norm * np.array([0.6, 0.0, 0.8])
    residuals = MODEL.function(params, X, Y)
    moved = {"theta": params["theta"].copy()}
    moved["theta"][:3] = 0.0
    np.testing.assert_array_equal(residuals, MODEL.function(moved, X, Y))  # ADBench: no rotation at all
    for source in ["numpy", *sources()[1:]]:
        jacobian = gb.gradient(source, params, X, Y, model="hand", derivative="jacobian")
        np.testing.assert_array_equal(jacobian["theta"][:, :3], 0.0)
    assert gb.check("numpy", "fd", params, X, Y, model="hand", derivative="jacobian").passed


def test_just_above_the_threshold_the_rotation_is_differentiated():
    params, X, Y = adbench_input("simple")
    params["theta"][:3] = 2e-4 * np.array([0.6, 0.0, 0.8])
    for source in sources()[1:]:
        result = gb.check("numpy", source, params, X, Y, model="hand", derivative="jacobian")
        assert result.passed and result.difference < 1e-12, (source, result.summary())


@pytest.mark.parametrize("complicated", [False, True])
def test_generated_points_pass_against_every_exact_source(complicated):
    params, X, Y = hand_point(30, complicated, seed=1)
    assert params["theta"].shape == (THETA,) and Y.shape == (30, 3)
    if complicated:
        us = params["us"]
        assert us.shape == (30, 2) and np.all(us >= 0) and np.all(us.sum(axis=1) <= 1)
    for source in sources()[1:]:
        result = gb.check("numpy", source, params, X, Y, model="hand", derivative="jacobian")
        assert result.passed and result.difference < 1e-12, (source, result.summary())


def test_generated_points_are_reproducible_and_near_the_model():
    first, again = hand_point(20, True, seed=4), hand_point(20, True, seed=4)
    for name in first[0]:
        np.testing.assert_array_equal(first[0][name], again[0][name])
    np.testing.assert_array_equal(first[2], again[2])
    residuals = MODEL.function(*first)
    assert 0.001 < np.std(residuals) < 0.1  # the observations are the posed points plus noise of 0.01


def test_the_cases_start_with_adbench_test_inputs():
    names = list(MODEL.cases)
    assert names[:2] == ["hand-adbench-test", "hand-adbench-complicated"]
    params, X, Y = MODEL.cases[names[0]]()
    read = adbench_input("simple")
    np.testing.assert_array_equal(params["theta"], read[0]["theta"])
    np.testing.assert_array_equal(Y, read[2])
    assert "us" in MODEL.cases[names[1]]()[0]
    sizes = [MODEL.cases[name]()[2].shape[0] for name in names]
    assert sizes == sorted(sizes)


@pytest.mark.parametrize("change, message", [
    (lambda p, X, Y: ({"theta": p["theta"][:25]}, X, Y), r"theta must be \(26,\)"),
    (lambda p, X, Y: ({**p, "beta": p["theta"]}, X, Y), "parameters theta"),
    (lambda p, X, Y: ({**p, "us": np.zeros((3, 2))}, X, Y), r"us must be \(N, 2\) = \(2, 2\)"),
    (lambda p, X, Y: (p, X, Y[:1]), r"shape \(2, 3\)"),
    (lambda p, X, Y: (p, {k: v for k, v in X.items() if k != "weights"}, Y), "keys parents"),
    (lambda p, X, Y: (p, {**X, "correspondences": np.array([0, 544])}, Y), "vertex indices 0..543"),
    (lambda p, X, Y: (p, {**X, "parents": X["parents"][::-1].copy()}, Y), "parents must come before"),
])
def test_points_that_do_not_fit_are_refused_with_a_reason(change, message):
    with pytest.raises(InputError, match=message):
        gb.check("numpy", "fd", *change(*adbench_input("simple")), model="hand", derivative="jacobian")


# --------------------------------------------------------------------------
# Reading ADBench's files
# --------------------------------------------------------------------------


def test_read_adbench_reads_the_values_in_the_files():
    params, X, Y = adbench_input("simple")
    assert list(params) == ["theta"] and params["theta"][0] == -0.521279 and params["theta"][25] == 0.204648
    np.testing.assert_array_equal(X["correspondences"], [309, 387])
    np.testing.assert_array_equal(Y, [[0.889192, -1.224224, -1.372331], [0.599599, -1.148071, -1.730528]])
    assert X["base_relatives"].shape == X["inverse_base_absolutes"].shape == (22, 4, 4)
    assert X["base_positions"].shape == (544, 3) and X["weights"].shape == (544, 22)
    assert X["triangles"].shape == (1084, 3)
    assert X["parents"][0] == -1 and X["parents"][2] == 1  # wrist is the root; thumb2's parent is thumb1
    assert X["base_relatives"][0, 0, 0] == 0.9205236434936523 and X["base_relatives"][0, 0, 1] == -0.1684776246547699
    assert X["inverse_base_absolutes"][0, 0, 1] == -0.11152653396129608
    np.testing.assert_array_equal(X["base_positions"][0], [0.028303472325205803, 0.07706871628761292,
                                                           0.01739514246582985])
    expected_weights = np.zeros(22)
    expected_weights[[2, 0, 3, 5]] = [0.2707933843876052, 0.3625080610927875, 0.12293588380842518,
                                      0.2437626707111821]
    np.testing.assert_array_equal(X["weights"][0], expected_weights)
    np.testing.assert_array_equal(X["triangles"][:2], [[290, 412, 289], [3, 5, 4]])
    complicated, _, _ = adbench_input("complicated")
    assert list(complicated) == ["theta", "us"]
    np.testing.assert_array_equal(complicated["us"], [[0.2, 0.25], [0.4, 0.5]])


INPUT = "1 26\n7 0.1 0.2 0.3\n" + "".join(f"{0.01 * k}\n" for k in range(26))


def model_folder(where, name="hand_model"):
    folder = where / name
    shutil.copytree(ADBENCH_DATA.joinpath("hand_model"), folder)
    return folder


def write(folder, text=INPUT, name="input.txt"):
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("folder_name", ["hand_model", "model"])
def test_the_model_is_found_beside_the_input(tmp_path, folder_name):
    model_folder(tmp_path, folder_name)
    params, X, Y = gb.read_adbench("hand", write(tmp_path))
    np.testing.assert_array_equal(params["theta"], 0.01 * np.arange(26))
    np.testing.assert_array_equal(X["correspondences"], [7])
    np.testing.assert_array_equal(Y, [[0.1, 0.2, 0.3]])
    assert X["weights"].shape == (544, 22)


def test_model_dir_names_the_model_folder_anywhere(tmp_path):
    folder = model_folder(tmp_path / "elsewhere")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    path = write(inputs)
    with pytest.raises(InputError, match="no hand model beside .*hand_model/ or model/.*Pass model_dir="):
        gb.read_adbench("hand", path)
    params, X, _ = gb.read_adbench("hand", path, model_dir=folder)
    assert X["parents"].shape == (22,)
    (folder / "vertices.txt").unlink()
    with pytest.raises(InputError, match="has no vertices.txt"):
        gb.read_adbench("hand", path, model_dir=folder)


def test_model_dir_is_only_for_the_hand():
    with pytest.raises(InputError, match="model_dir= is the hand model's folder.*leave model_dir out"):
        gb.read_adbench("gmm", ADBENCH_DATA.joinpath("gmm_test.txt"), model_dir=".")


@pytest.mark.parametrize("text, message", [
    ("", "it is empty"),
    (INPUT.replace("1 26\n", "1 26 3\n"), "two positive integers 'N n_theta'"),
    (INPUT.replace("1 26\n", "1 25\n"), "n_theta=25; ADBench's hand has 26"),
    (INPUT.replace("1 26\n", "2 26\n"), "line 3 has 1 number.*points"),
    (INPUT.replace("7 0.1 0.2 0.3\n", "7 0.1 0.2 0.3\n7 0.1 0.2 0.3\n"), "line 3 has 4 number.*'u0 u1'"),
    (INPUT.replace("0.02\n", ""), r"after the 1 point line\(s\) it has 25 line\(s\); the simple variant"),
    (INPUT.replace("7 0.1", "7 0.1 0.9"), "line 2 has 5 number"),
    (INPUT.replace("7 0.1", "544 0.1"), r"line 2 \(point 0\) names vertex 544.*0..543"),
    (INPUT.replace("7 0.1", "7.5 0.1"), "names vertex 7.5"),
    (INPUT.replace("0.02\n", "0.02x\n"), "'0.02x', which is not a number"),
    (INPUT + "0.5\n", "line 3 has 1 number.*complicated variant's 'u0 u1' lines"),
    (INPUT.replace("7 0.1 0.2 0.3\n", "1084 0.1 0.2 0.3\n0.2 0.3\n"), "names triangle 1084.*0..1083"),
])
def test_malformed_inputs_say_what_is_wrong_and_where(tmp_path, text, message):
    model_folder(tmp_path)
    with pytest.raises(InputError, match=message):
        gb.read_adbench("hand", write(tmp_path, text))


def test_the_complicated_variant_is_read_off_the_file(tmp_path):
    model_folder(tmp_path)
    text = INPUT.replace("7 0.1 0.2 0.3\n", "7 0.1 0.2 0.3\n0.25 0.5\n")
    params, X, _ = gb.read_adbench("hand", write(tmp_path, text))
    np.testing.assert_array_equal(params["us"], [[0.25, 0.5]])
    assert list(params) == ["theta", "us"]


@pytest.mark.parametrize("file, find, replace, message", [
    ("bones.txt", "wrist:-1:", "wrist:-1:7:", "bones.txt .*line 1 has 35 ':'-separated fields"),
    ("bones.txt", "thumb1:0:", "thumb1:5:", r"bones.txt .*line 2 gives the parent .* 5, outside -1..0"),
    ("bones.txt", "wrist:-1:0.92", "wrist:-1:x0.92", "'x0.92\\d*' as a transform entry, which is not a number"),
    ("vertices.txt", ":4:2:0.27", ":4:22:0.27", r"vertices.txt .*line 1 gives a bone 22, outside 0..21"),
    ("vertices.txt", ":4:2:0.27", ":5:2:0.27", "says 5 bone weight"),
    ("triangles.txt", "290:412:289", "290:412:544", r"triangles.txt .*line 1 gives a vertex 544, outside 0..543"),
    ("triangles.txt", "290:412:289", "290:412", "a triangle is 'a:b:c'"),
])
def test_malformed_model_files_say_which_file_and_line(tmp_path, file, find, replace, message):
    folder = model_folder(tmp_path)
    original = (folder / file).read_text()
    assert find in original
    (folder / file).write_text(original.replace(find, replace, 1))
    with pytest.raises(InputError, match=message):
        gb.read_adbench("hand", write(tmp_path))
