"""ADBench's bundle adjustment: its reference residuals and CSR Jacobian, every source, the planted bug,
the coloured finite-difference Jacobian and the reader.

Expected values come from ADBench's published references (the packaged ``references.json``: the residuals
and the CSR ``rows``/``cols``/``vals`` of ADBench's tests), from the input file's text, or from the structure
of the problem worked out by hand (15 colours), never from the code under test.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import gradcheck_bench as gb
from adbench_reference import ADBENCH_DATA, ADBENCH_TOLERANCE
from gradcheck_bench.counting import count_forward_passes
from gradcheck_bench.differences.coloring import greedy_colouring, sparsity_pattern
from gradcheck_bench.errors import InputError
from gradcheck_bench.models.ba import MODEL, ba_csr, ba_point, ba_residuals, ba_sparsity, validate_ba_point
from gradcheck_bench.point import build_point

ORDER = ("cams", "X", "w")
"""ADBench's column order: 11n camera numbers, 3m point coordinates, p weights (each row-major)."""


def reference() -> dict:
    return json.loads(ADBENCH_DATA.joinpath("references.json").read_text())["ba_test.txt"]


def test_input() -> tuple[gb.Params, np.ndarray, np.ndarray]:
    return gb.read_adbench("ba", ADBENCH_DATA.joinpath("ba_test.txt"))


test_input.__test__ = False  # a helper, not a test


def reference_residuals() -> np.ndarray:
    record = reference()
    return np.array(record["reproj_err"] + record["w_err"])


def reference_jacobian() -> np.ndarray:
    """ADBench's CSR Jacobian written out densely, row by row (3p x (11n + 3m + p))."""
    csr = reference()["jacobian"]
    dense = np.zeros((csr["nrows"], csr["ncols"]))
    for row in range(csr["nrows"]):
        for at in range(csr["rows"][row], csr["rows"][row + 1]):
            dense[row, csr["cols"][at]] = csr["vals"][at]
    return dense


def as_matrix(blocks: dict, rows: int) -> np.ndarray:
    """Our Jacobian blocks ``(3p,) + param.shape`` side by side in ADBench's column order."""
    return np.concatenate([np.asarray(blocks[name]).reshape(rows, -1) for name in ORDER], axis=1)


def as_blocks(matrix: np.ndarray, params: gb.Params) -> dict:
    found, start = {}, 0
    for name in ORDER:
        size = params[name].size
        found[name] = matrix[:, start:start + size].reshape((matrix.shape[0],) + params[name].shape)
        start += size
    return found


# --------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------


def test_the_reader_repeats_the_one_camera_point_weight_and_feature_as_adbench_does():
    lines = [line.split() for line in ADBENCH_DATA.joinpath("ba_test.txt").read_text().splitlines() if line.split()]
    n, m, p = map(int, lines[0])
    camera, point, weight, feature = ([float(x) for x in line] for line in lines[1:5])
    params, obs, features = test_input()
    assert (n, m, p) == (2, 10, 10)
    assert params["cams"].shape == (n, 11) and np.all(params["cams"] == camera)
    assert params["X"].shape == (m, 3) and np.all(params["X"] == point)
    assert params["w"].shape == (p,) and np.all(params["w"] == weight)
    assert features.shape == (p, 2) and np.all(features == feature)
    # read_ba_instance: observation i is camera i mod n, point i mod m
    assert obs.tolist() == [[i % n, i % m] for i in range(p)]
    assert np.issubdtype(obs.dtype, np.integer)


def test_the_first_case_is_adbench_test_input():
    name, build = next(iter(MODEL.cases.items()))
    assert name == "ba-adbench-test"
    for ours, theirs in zip(build(), test_input()):
        if isinstance(ours, dict):
            assert all(np.array_equal(ours[key], theirs[key]) for key in ORDER)
        else:
            assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("text, says", [
    ("", "empty"),
    ("2 10\n", "three positive integers"),
    ("2 10 10\n1 2 3\n", "needs 11"),
    ("2 10 10\n" + "1 " * 11 + "\n1 2 3\n0.5\n", "ends before the feature"),
    ("2 10 10\n" + "1 " * 11 + "\n1 2 x\n0.5\n1 2\n", "'x', which is not a number"),
    ("2 10 10\n" + "1 " * 11 + "\n1 2 3\n0.5\n1 2\n3 4\n", "come after the last block"),
    ("2 10 10\n" + "1 " * 11 + "\n1 2 3\nnan\n1 2\n", "must be finite"),
])
def test_the_reader_refuses_a_malformed_file_saying_what_is_wrong(tmp_path, text, says):
    path = tmp_path / "ba.txt"
    path.write_text(text)
    with pytest.raises(InputError, match="not an ADBench input file") as raised:
        gb.read_adbench("ba", path)
    assert says in str(raised.value)


def test_the_reader_refuses_a_missing_file(tmp_path):
    with pytest.raises(InputError, match="no file at"):
        gb.read_adbench("ba", tmp_path / "absent.txt")


# --------------------------------------------------------------------------
# ADBench's reference values
# --------------------------------------------------------------------------


def test_the_residuals_reproduce_adbench_reference():
    residuals = ba_residuals(*test_input())
    assert residuals.shape == (30,)
    assert np.max(np.abs(residuals - reference_residuals())) < ADBENCH_TOLERANCE


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_the_residuals_under_torch_and_jax_reproduce_adbench_reference(framework):
    pytest.importorskip(framework)  # skipped, not passed, where the framework is absent
    params, obs, features = test_input()
    if framework == "torch":
        from gradcheck_bench.frameworks.torch import to_torch, torch_namespace

        found = ba_residuals(to_torch(params), to_torch(obs), to_torch(features), xp=torch_namespace()).numpy()
    else:
        import jax.numpy as jnp

        from gradcheck_bench.frameworks.jax import to_jax, x64_scope

        with x64_scope():
            found = np.asarray(ba_residuals(to_jax(params), to_jax(obs), to_jax(features), xp=jnp))
    assert np.max(np.abs(found - reference_residuals())) < ADBENCH_TOLERANCE


def test_the_hand_written_csr_jacobian_is_adbench_reference():
    csr, expected = ba_csr(*test_input()), reference()["jacobian"]
    assert (csr.nrows, csr.ncols) == (expected["nrows"], expected["ncols"]) == (30, 62)
    assert csr.rows.tolist() == expected["rows"]
    assert csr.cols.tolist() == expected["cols"]
    assert np.max(np.abs(csr.vals - np.array(expected["vals"]))) < ADBENCH_TOLERANCE


@pytest.mark.parametrize("source", ["numpy", "torch", "jax", "complex-step"])
def test_exact_sources_reproduce_adbench_reference_jacobian(source):
    if source in ("torch", "jax"):
        pytest.importorskip(source)
    params, obs, features = test_input()
    found = gb.gradient(source, params, obs, features, model="ba", derivative="jacobian")
    expected = reference_jacobian()
    ours = as_matrix(found.tensors, 30)
    assert np.max(np.abs(ours - expected)) < ADBENCH_TOLERANCE
    assert np.all(ours[~csr_mask()] == 0)  # every entry outside ADBench's pattern is exactly zero


def csr_mask() -> np.ndarray:
    """Where ADBench's CSR Jacobian stores an entry (its structural nonzeros, a stored 0.0 included)."""
    csr = reference()["jacobian"]
    mask = np.zeros((csr["nrows"], csr["ncols"]), dtype=bool)
    for row in range(csr["nrows"]):
        mask[row, csr["cols"][csr["rows"][row]:csr["rows"][row + 1]]] = True
    return mask


def test_the_hand_written_jacobian_passes_against_adbench_reference_through_check():
    params, obs, features = test_input()
    blocks = as_blocks(reference_jacobian(), params)
    result = gb.check("numpy", blocks, params, obs, features, model="ba", derivative="jacobian")
    assert result.passed and result.difference < 1e-12, result.summary()


def test_fd_passes_and_agrees_with_adbench_reference_within_its_truncation_error():
    params, obs, features = test_input()
    assert gb.check("numpy", "fd", params, obs, features, model="ba", derivative="jacobian").passed
    assert gb.check(as_blocks(reference_jacobian(), params), "fd", params, obs, features, model="ba",
                    derivative="jacobian").passed
    # a centered difference's error is c h^2: D(h) - D(h/2) = (3/4) c h^2 estimates it
    steps = gb.default_steps(params)
    coarse = as_matrix(gb.gradient("fd", params, obs, features, model="ba", derivative="jacobian",
                                   eps=steps).tensors, 30)
    fine = as_matrix(gb.gradient("fd", params, obs, features, model="ba", derivative="jacobian",
                                 eps=steps / 2).tensors, 30)
    truncation = np.abs(coarse - fine) * 4 / 3
    rounding = np.finfo(float).eps * np.max(np.abs(reference_residuals())) / steps[None, :]
    assert np.all(np.abs(coarse - reference_jacobian()) <= 2 * truncation + 10 * rounding)


# --------------------------------------------------------------------------
# Generated points, the zero rotation, the planted bug
# --------------------------------------------------------------------------


@pytest.mark.parametrize("reference_source", ["fd", "torch", "jax", "complex-step"])
def test_the_hand_written_jacobian_passes_on_a_generated_point_with_a_zero_rotation(reference_source):
    if reference_source in ("torch", "jax"):
        pytest.importorskip(reference_source)
    params, obs, features = ba_point(3, 8, 20, seed=1)
    params["cams"][1, :3] = 0.0  # ADBench's first-order branch, Y + r x Y, for camera 1
    result = gb.check("numpy", reference_source, params, obs, features, model="ba", derivative="jacobian")
    assert result.passed, result.summary()
    assert gb.check("numpy", reference_source, params, obs, features, model="ba").passed  # the cost's gradient


def test_the_zero_rotation_is_the_first_order_form_and_its_derivative():
    params, obs, features = ba_point(2, 3, 4, seed=2)
    params["cams"][:, :3] = 0.0
    cam, point = params["cams"][obs[:, 0]], params["X"][obs[:, 1]]
    Y = point - cam[:, 3:6]  # r = 0: Y + r x Y is Y itself
    q = Y[:, :2] / Y[:, 2:3]
    rsq = np.sum(q * q, axis=1)
    projection = q * (1 + cam[:, 9] * rsq + cam[:, 10] * rsq**2)[:, None] * cam[:, 6:7] + cam[:, 7:9]
    expected = np.concatenate([(params["w"][:, None] * (projection - features)).ravel(), 1 - params["w"] ** 2])
    assert np.allclose(ba_residuals(params, obs, features), expected, rtol=1e-14, atol=1e-12)


@pytest.mark.parametrize("reference_source", ["fd", "torch", "adbench"])
def test_the_planted_bug_fails_naming_cams_and_X_and_a_rotation_or_centre_entry(reference_source):
    """Dropping q dL/dq corrupts only what lies upstream of q: the rotation and centre columns of ``cams``
    (entries 0-5) and the points; focal length, principal point, distortion and weights stay right."""
    if reference_source == "torch":
        pytest.importorskip("torch")
    params, obs, features = test_input()
    against = as_blocks(reference_jacobian(), params) if reference_source == "adbench" else reference_source
    result = gb.check("numpy-buggy", against, params, obs, features, model="ba", derivative="jacobian")
    assert not result.passed
    assert sorted(result.culprits) == ["X", "cams"] == sorted(MODEL.planted_bug.culprits)
    output_row, camera, entry = result.rows["cams"]["worst_index"]
    assert output_row < 20 and entry < 6  # a reprojection row, a rotation or centre entry
    assert "w" not in result.culprits
    summary = result.summary()
    assert "cams" in summary and f"at output [{output_row}], element [{camera}, {entry}]" in summary


def test_the_planted_bug_fails_in_the_cost_gradient_too():
    result = gb.check("numpy-buggy", "fd", *ba_point(4, 20, 60, seed=3), model="ba")
    assert not result.passed and sorted(result.culprits) == ["X", "cams"]


def test_the_hand_written_gradient_passes_on_every_case():
    for build in MODEL.cases.values():
        assert gb.check("numpy", "complex-step", *build(), model="ba").passed


# --------------------------------------------------------------------------
# Sparsity and the coloured finite-difference Jacobian
# --------------------------------------------------------------------------


def declared_pattern(point: tuple) -> tuple[np.ndarray, np.ndarray]:
    params, obs, features = point
    built = build_point(params, obs, features)
    return sparsity_pattern(ba_sparsity(params, obs, features), built, 3 * obs.shape[0], "ba")


def test_the_declared_sparsity_is_adbench_csr_pattern():
    rows, columns = declared_pattern(test_input())
    declared = np.zeros((30, 62), dtype=bool)
    declared[rows, columns] = True
    assert rows.size == 310  # 15 * 2p + p, as ADBench's CSR
    assert np.array_equal(declared, csr_mask())


@pytest.mark.parametrize("case", list(MODEL.cases))
def test_bas_columns_take_fifteen_colours_none_sharing_a_row(case):
    """One colour per camera parameter (11; different cameras never share a row), per point coordinate (3) and
    one for every weight: 15, whatever n, m and p, and no fewer, since a reprojection row has 15 entries."""
    point = MODEL.cases[case]()
    rows, columns = declared_pattern(point)
    n_columns = sum(value.size for value in point[0].values())
    colours = greedy_colouring(rows, columns, n_columns)
    assert colours.max() + 1 == 15
    for colour in range(15):  # no row has two entries of one colour
        its_rows = rows[colours[columns] == colour]
        assert np.unique(its_rows).size == its_rows.size


@pytest.mark.parametrize("case", list(MODEL.cases))
def test_the_coloured_fd_jacobian_costs_thirty_passes_not_two_per_column(case):
    point = MODEL.cases[case]()
    n_columns = sum(value.size for value in point[0].values())
    plain = dataclasses.replace(MODEL, jacobian_sparsity=None)
    with count_forward_passes() as coloured_count:
        coloured = gb.gradient("fd", *point, model=MODEL, derivative="jacobian")
    with count_forward_passes() as plain_count:
        column_by_column = gb.gradient("fd", *point, model=plain, derivative="jacobian")
    # the same passes apart from the differences: 2 per column without colours, 2 per colour (15) with them
    assert plain_count.passes - coloured_count.passes == 2 * n_columns - 2 * 15
    assert any("15 colours" in note for note in coloured.notes)
    # each row sees only its own column of a colour move: the same numbers as one column at a time
    for name in ORDER:
        assert np.array_equal(coloured.tensors[name], column_by_column.tensors[name])
        assert np.array_equal(coloured.error[name], column_by_column.error[name])


def test_the_coloured_pass_count_does_not_grow_with_the_problem():
    counts = []
    for build in MODEL.cases.values():
        with count_forward_passes() as counter:
            gb.gradient("fd", *build(), model="ba", derivative="jacobian")
        counts.append(counter.passes)
    assert len(set(counts)) == 1


def test_a_declared_sparsity_that_misses_a_dependency_is_an_error():
    def without_points(params, X, Y):
        declared = ba_sparsity(params, X, Y)
        return {"cams": declared["cams"], "w": declared["w"]}  # as if no residual depended on X

    wrong = dataclasses.replace(MODEL, name="ba-wrong-sparsity", jacobian_sparsity=without_points)
    with pytest.raises(InputError, match="misses entries"):
        gb.gradient("fd", *test_input(), model=wrong, derivative="jacobian")


def test_a_declared_sparsity_out_of_range_is_an_error():
    def too_far(params, X, Y):
        rows, entries = ba_sparsity(params, X, Y)["X"]
        return {"X": (rows, entries + params["X"].size)}

    wrong = dataclasses.replace(MODEL, name="ba-wrong-sparsity", jacobian_sparsity=too_far)
    with pytest.raises(InputError, match="entry outside"):
        gb.gradient("fd", *test_input(), model=wrong, derivative="jacobian")


# --------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------


def test_generated_points_are_reproducible_and_in_front_of_every_camera():
    first, again = ba_point(5, 50, 200, seed=7), ba_point(5, 50, 200, seed=7)
    assert all(np.array_equal(first[0][name], again[0][name]) for name in ORDER)
    params, obs, features = first
    validate_ba_point(params, obs, features)
    assert set(obs[:, 0]) == set(range(5)) and set(obs[:, 1]) == set(range(50))
    # the camera frame's depth of each observed point, rotated with scipy-free Rodrigues written here
    cam, point = params["cams"][obs[:, 0]], params["X"][obs[:, 1]]
    r, Y = cam[:, :3], point - cam[:, 3:6]
    theta = np.linalg.norm(r, axis=1, keepdims=True)
    k = r / theta
    rotated = (Y * np.cos(theta) + np.cross(k, Y) * np.sin(theta)
               + k * np.sum(k * Y, axis=1, keepdims=True) * (1 - np.cos(theta)))
    assert np.all(rotated[:, 2] > 5)


@pytest.mark.parametrize("sizes", [(0, 5, 5), (2, 5, 3), (2.5, 5, 5)])
def test_bad_sizes_are_refused(sizes):
    with pytest.raises(InputError):
        ba_point(*sizes)


@pytest.mark.parametrize("spoil, says", [
    (lambda p, o, f: ({**p, "w": p["w"][:-1]}, o, f), "integers \\(p, 2\\)"),
    (lambda p, o, f: (p, o + 100, f), "outside"),
    (lambda p, o, f: (p, o.astype(float), f), "integers"),
    (lambda p, o, f: ({**p, "cams": p["cams"][:, :9]}, o, f), "cams must be \\(n, 11\\)"),
    (lambda p, o, f: ({"cams": p["cams"], "X": p["X"]}, o, f), "BA takes parameters"),
    (lambda p, o, f: (p, o, f[:, :1]), "features"),
])
def test_a_point_that_does_not_suit_ba_is_refused(spoil, says):
    params, obs, features = spoil(*test_input())
    with pytest.raises(InputError, match=says):
        gb.check("numpy", "fd", params, obs, features, model="ba", derivative="jacobian")
