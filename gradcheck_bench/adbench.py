"""ADBench's input files for the GMM, LSTM, BA and hand-tracking objectives, read into points ``(params, X, Y)``.

microsoft/ADBench keeps each objective's inputs in a plain text format
(its ``docs/FileFormat.md``). This module reads those that have a model
here, so ADBench's own inputs (and its published reference values for them)
can be checked with any gradient source:

* GMM (``data/gmm/*.txt``)::

      d k n
      alpha_1 ... alpha_k          one per line
      mean rows                    k lines of d numbers
      icf rows                     k lines of d(d+1)/2 numbers: log-diagonal, then the lower triangle
      points                       n lines of d numbers (or one line, repeated n times)
      gamma m                      the Wishart prior

  gives ``({"alphas", "means", "icf"}, points (n, d), None)``. A file with a
  single point line and ``n > 1`` is ADBench's "replicate point" mode (its
  largest inputs): the point is repeated n times, as ADBench's reader does.
  The point does not hold the prior: model ``"gmm"`` is ADBench's default
  prior ``gamma=1, m=0``, and :func:`read_adbench` refuses a file written for
  another prior rather than check it against the wrong objective.
  :func:`read_gmm_input` returns the prior too, for
  ``gmm_model(gamma=..., m=...)``.

* LSTM (``data/lstm/*.txt``)::

      l c b
      main params                  2l lines of 4b numbers
      extra params                 3 lines of b numbers
      state                        2l lines of b numbers
      sequence                     c lines of b numbers (the text's characters, as bits)

  gives ``({"main_params", "extra_params"}, state (2l, b), sequence (c, b))``.
  Blank lines separate the blocks in ADBench's files; they are skipped.

* BA (``data/ba/*.txt``)::

      n m p
      one camera                   11 numbers, repeated for the n cameras
      one point                    3 numbers, repeated for the m points
      one weight                   repeated for the p observations
      one feature                  2 numbers, repeated for the p observations

  gives ``({"cams", "X", "w"}, obs (p, 2), features (p, 2))``, observation i
  of camera i mod n and point i mod m, as ADBench's reader builds them.

* Hand tracking (``data/hand/*.txt``)::

      N n_theta                    points, pose parameters (26)
      points                       N lines 'index x y z': a vertex (simple) or a triangle (complicated)
      us                           complicated variant only: N lines 'u0 u1', barycentric coordinates
      theta                        n_theta lines of one number

  with the hand model in a folder beside the file (``hand_model/`` or
  ``model/``, or ``model_dir=``): ``bones.txt``, ``vertices.txt``,
  ``triangles.txt`` (see :func:`read_hand_model`). It gives
  ``({"theta"} or {"theta", "us"}, model arrays and correspondences (a dict),
  the observed points (N, 3))``. The variant is read off the file: N lines of
  two numbers before theta make it the complicated one.

Every problem with a file (missing, unreadable, a wrong count, a token that
is not a number) is an :class:`~gradcheck_bench.errors.InputError` that says
where the file departs from the format and what to do.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Literal, NamedTuple, Union, overload

import numpy as np

from .errors import InputError

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_GMM_PRIOR = (1.0, 0)
"""ADBench's Wishart prior ``(gamma, m)``: every GMM input it generates uses it."""


class GMMInput(NamedTuple):
    """A GMM input file: the point ``(params, X, None)`` and the Wishart prior it was written for."""

    params: dict[str, np.ndarray]
    X: np.ndarray
    Y: None
    gamma: float
    m: int

    @property
    def point(self) -> tuple[dict[str, np.ndarray], np.ndarray, None]:
        return self.params, self.X, self.Y


@dataclass
class _Lines:
    """The non-empty lines of a file, read in order, with errors that name the file and the line."""

    source: str
    lines: list[tuple[int, list[str]]]  # (1-based line number, tokens)
    position: int = 0

    @classmethod
    def of(cls, text: str, source: str) -> "_Lines":
        numbered = [(number, line.split()) for number, line in enumerate(text.splitlines(), start=1)]
        return cls(source, [(number, tokens) for number, tokens in numbered if tokens])

    def error(self, message: str) -> InputError:
        return InputError(f"{self.source} is not an ADBench input file as expected: {message}")

    def header(self, expected: str) -> tuple[int, int, int]:
        """The first line: three positive integers."""
        if not self.lines:
            raise self.error(f"it is empty; the first line should be {expected}.")
        number, tokens = self.lines[0]
        self.position = 1
        if len(tokens) != 3 or not all(token.isdigit() and int(token) >= 1 for token in tokens):
            raise self.error(f"line {number} is {' '.join(tokens)!r}, but the first line must be three positive "
                             f"integers {expected}.")
        return int(tokens[0]), int(tokens[1]), int(tokens[2])

    def remaining(self) -> int:
        return len(self.lines) - self.position

    def rows(self, count: int, width: int, what: str) -> np.ndarray:
        """The next ``count`` lines, each of ``width`` finite numbers, as a ``(count, width)`` array."""
        if self.remaining() < count:
            raise self.error(f"it ends before {what} is complete: {count} line(s) of {width} number(s) were "
                             f"expected, {max(self.remaining(), 0)} remain. Check the sizes on the first line.")
        values = np.empty((count, width))
        for row in range(count):
            number, tokens = self.lines[self.position]
            self.position += 1
            if len(tokens) != width:
                raise self.error(f"line {number} has {len(tokens)} number(s), but each line of {what} needs "
                                 f"{width}. Check the sizes on the first line.")
            values[row] = [self._number(token, number, what) for token in tokens]
        return values

    def _number(self, token: str, line: int, what: str) -> float:
        try:
            value = float(token)
        except ValueError:
            raise self.error(f"line {line} ({what}) holds {token!r}, which is not a number.") from None
        if not np.isfinite(value):
            raise self.error(f"line {line} ({what}) holds {token!r}; every value must be finite.")
        return value

    def finish(self) -> None:
        if self.remaining():
            number, _ = self.lines[self.position]
            raise self.error(f"line {number} and {self.remaining() - 1} line(s) after it come after the last "
                             "block; the sizes on the first line say the file should end before them.")


def parse_gmm(text: str, source: str = "the GMM input") -> GMMInput:
    """A GMM input from the text of an ADBench GMM file (see the module docstring)."""
    lines = _Lines.of(text, source)
    d, k, n = lines.header("'d k n' (dimension, components, points)")
    alphas = lines.rows(k, 1, "the alphas (one per line)")[:, 0]
    means = lines.rows(k, d, f"the means (d={d} per line)")
    icf = lines.rows(k, d * (d + 1) // 2, f"the icf rows (d(d+1)/2={d * (d + 1) // 2} per line)")
    after_icf = lines.remaining()
    if after_icf == n + 1:
        point_lines = n
    elif after_icf == 2:  # one point line, then the prior: ADBench's replicate-point mode
        point_lines = 1
    else:
        raise lines.error(f"after the icf rows it has {after_icf} line(s), but the first line (n={n}) asks for the "
                          f"{n} point(s) and the prior line ({n + 1} lines), or one point and the prior line "
                          "(ADBench's replicate-point mode, 2 lines).")
    points = lines.rows(point_lines, d, f"the points (d={d} per line)")
    if point_lines != n:
        points = np.repeat(points, n, axis=0)
    gamma, m = lines.rows(1, 2, "the Wishart prior ('gamma m')")[0]
    if gamma <= 0 or m != int(m) or m < 0:
        raise lines.error(f"line {lines.lines[lines.position - 1][0]} gives the Wishart prior gamma={gamma:g}, m={m:g}; gamma must be "
                          "positive and m a non-negative integer.")
    lines.finish()
    return GMMInput({"alphas": alphas, "means": means, "icf": icf}, points, None, float(gamma), int(m))


def parse_lstm(text: str, source: str = "the LSTM input") -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """An LSTM point ``(params, state, sequence)`` from the text of an ADBench LSTM file."""
    lines = _Lines.of(text, source)
    layers, characters, bits = lines.header("'l c b' (layers, characters, bits per character)")
    if characters < 2:
        raise lines.error(f"the first line gives c={characters} characters; the LSTM predicts each character from "
                          "the one before, so it needs at least 2.")
    main_params = lines.rows(2 * layers, 4 * bits, f"the main params (4b={4 * bits} per line)")
    extra_params = lines.rows(3, bits, f"the extra params (b={bits} per line)")
    state = lines.rows(2 * layers, bits, f"the state (b={bits} per line)")
    sequence = lines.rows(characters, bits, f"the sequence (b={bits} per line)")
    lines.finish()
    return {"main_params": main_params, "extra_params": extra_params}, state, sequence


def parse_ba(text: str, source: str = "the BA input") -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A BA point ``({cams, X, w}, obs, features)`` from the text of an ADBench BA file, as ADBench's
    ``read_ba_instance`` reads it: one camera, point, weight and feature, repeated n, m, p times, and
    observation i of camera i mod n and point i mod m."""
    lines = _Lines.of(text, source)
    n, m, p = lines.header("'n m p' (cameras, points, observations)")
    camera = lines.rows(1, 11, "the camera (11 numbers: rotation 3, centre 3, focal 1, principal point 2, "
                               "distortion 2)")
    point = lines.rows(1, 3, "the point (3 numbers)")
    weight = lines.rows(1, 1, "the weight (1 number)")
    feature = lines.rows(1, 2, "the feature (2 numbers)")
    lines.finish()
    observations = np.arange(p)
    obs = np.stack([observations % n, observations % m], axis=1)
    return ({"cams": np.repeat(camera, n, axis=0), "X": np.repeat(point, m, axis=0), "w": np.repeat(weight[0], p)},
            obs, np.repeat(feature, p, axis=0))


def read_gmm_input(path: PathLike) -> GMMInput:
    """The point and the Wishart prior of an ADBench GMM file (for a prior other than ADBench's default)."""
    return parse_gmm(_read_text(path), os.fspath(path))


def gmm_point_with_default_prior(text: str, source: str) -> tuple[dict[str, np.ndarray], np.ndarray, None]:
    """The point of a GMM file written for ADBench's default prior (model ``"gmm"``'s); any other is refused."""
    read = parse_gmm(text, source)
    if (read.gamma, read.m) != DEFAULT_GMM_PRIOR:
        raise InputError(
            f"{source} was written for the Wishart prior gamma={read.gamma:g}, m={read.m}, but model "
            f"'gmm' is ADBench's default prior gamma={DEFAULT_GMM_PRIOR[0]:g}, m={DEFAULT_GMM_PRIOR[1]}. "
            "Read it with gradcheck_bench.adbench.read_gmm_input(path), which returns the point and its prior, "
            f"and check with model=gradcheck_bench.models.gmm.gmm_model(gamma={read.gamma:g}, m={read.m})."
        )
    return read.point


# --------------------------------------------------------------------------
# Hand tracking: an input file, and the hand model in a folder beside it
# --------------------------------------------------------------------------

HAND_THETA = 26
"""ADBench's hand pose parameters: global rotation (3), global translation (3), four per finger (5 fingers)."""

HAND_MIN_BONES = 21
"""The fingers' angles go to bones 2 to 20 (ADBench's ``to_pose_params``), so a hand model needs that many bones."""

HAND_MODEL_FOLDERS = ("hand_model", "model")
"""Where :func:`read_adbench` looks for the hand model beside an input file: this package's folder name, then
ADBench's (``data/hand/model/`` beside ``data/hand/test.txt``)."""

HAND_MODEL_FILES = ("bones.txt", "vertices.txt", "triangles.txt")


def _model_file_error(source: str, number: int, message: str) -> InputError:
    return InputError(f"{source} is not an ADBench hand model file as expected: line {number} {message}")


def _model_lines(text: str, source: str) -> list[tuple[int, list[str]]]:
    """The non-empty lines of a ``:``-separated hand model file, split into fields."""
    lines = [(number, line.strip().split(":")) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip()]
    if not lines:
        raise InputError(f"{source} is empty; an ADBench hand model file has one line per bone, vertex or triangle.")
    return lines


def _model_number(field: str, source: str, number: int, what: str) -> float:
    try:
        value = float(field)
    except ValueError:
        raise _model_file_error(source, number, f"holds {field!r} as {what}, which is not a number.") from None
    if not np.isfinite(value):
        raise _model_file_error(source, number, f"holds {field!r} as {what}; every value must be finite.")
    return value


def _model_index(field: str, source: str, number: int, what: str, smallest: int, stop: int) -> int:
    """A whole number in ``[smallest, stop)``."""
    try:
        value = int(field)
    except ValueError:
        raise _model_file_error(source, number, f"holds {field!r} as {what}, which is not a whole number.") from None
    if not smallest <= value < stop:
        raise _model_file_error(source, number, f"gives {what} {value}, outside {smallest}..{stop - 1}.")
    return value


def parse_hand_bones(text: str, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``bones.txt``: per line ``name:parent:`` 16 numbers ``:`` 16 numbers, parents before children.

    Returns the parents ``(B,)`` (-1 for a root), the rest transforms relative to the parent ``(B, 4, 4)`` and
    the inverse rest absolute transforms ``(B, 4, 4)``, both stored row-major.
    """
    lines = _model_lines(text, source)
    parents = np.empty(len(lines), dtype=np.intp)
    transforms = np.empty((len(lines), 32))
    for bone, (number, fields) in enumerate(lines):
        if len(fields) != 34:
            raise _model_file_error(source, number, f"has {len(fields)} ':'-separated fields; a bone needs 34: "
                                    "name, parent, 16 numbers of its relative transform, 16 of its inverse absolute one.")
        parents[bone] = _model_index(fields[1], source, number, "the parent (-1 for the root, else an earlier bone)",
                                     -1, bone)
        transforms[bone] = [_model_number(field, source, number, "a transform entry") for field in fields[2:]]
    return parents, transforms[:, :16].reshape(-1, 4, 4), transforms[:, 16:].reshape(-1, 4, 4)


def parse_hand_vertices(text: str, source: str, bones: int) -> tuple[np.ndarray, np.ndarray]:
    """``vertices.txt``: per line ``x:y:z:`` 5 numbers ADBench skips ``:count:`` then ``count`` pairs ``bone:weight``.

    Returns the rest positions ``(V, 3)`` and the skinning weights ``(V, B)``; a bone named twice on one line keeps
    its last weight, as ADBench's reader does.
    """
    lines = _model_lines(text, source)
    positions = np.empty((len(lines), 3))
    weights = np.zeros((len(lines), bones))
    for vertex, (number, fields) in enumerate(lines):
        if len(fields) < 9:
            raise _model_file_error(source, number, f"has {len(fields)} ':'-separated fields; a vertex needs x, y, z, "
                                    "5 more numbers, the count of its bone weights, then that many 'bone:weight' pairs.")
        positions[vertex] = [_model_number(field, source, number, "a coordinate") for field in fields[:3]]
        count = _model_index(fields[8], source, number, "the count of bone weights", 0, bones + 1)
        if len(fields) != 9 + 2 * count:
            raise _model_file_error(source, number, f"says {count} bone weight(s), so it needs {9 + 2 * count} fields; "
                                    f"it has {len(fields)}.")
        for pair in range(count):
            bone = _model_index(fields[9 + 2 * pair], source, number, "a bone", 0, bones)
            weights[vertex, bone] = _model_number(fields[10 + 2 * pair], source, number, "a weight")
    return positions, weights


def parse_hand_triangles(text: str, source: str, vertices: int) -> np.ndarray:
    """``triangles.txt``: per line ``a:b:c``, three 0-based vertex indices; returns them ``(T, 3)``."""
    lines = _model_lines(text, source)
    triangles = np.empty((len(lines), 3), dtype=np.intp)
    for triangle, (number, fields) in enumerate(lines):
        if len(fields) != 3:
            raise _model_file_error(source, number, f"has {len(fields)} ':'-separated fields; a triangle is 'a:b:c'.")
        triangles[triangle] = [_model_index(field, source, number, "a vertex", 0, vertices) for field in fields]
    return triangles


def hand_model_from_texts(read: Callable[[str], tuple[str, str]]) -> dict[str, np.ndarray]:
    """The hand model's arrays from its three files; ``read(file name) -> (text, source)``.

    Keys: ``parents`` ``(B,)``, ``base_relatives`` and ``inverse_base_absolutes`` ``(B, 4, 4)``,
    ``base_positions`` ``(V, 3)``, ``weights`` ``(V, B)``, ``triangles`` ``(T, 3)``.
    """
    parents, base_relatives, inverse_base_absolutes = parse_hand_bones(*read("bones.txt"))
    base_positions, weights = parse_hand_vertices(*read("vertices.txt"), bones=len(parents))
    triangles = parse_hand_triangles(*read("triangles.txt"), vertices=len(base_positions))
    return {"parents": parents, "base_relatives": base_relatives, "inverse_base_absolutes": inverse_base_absolutes,
            "base_positions": base_positions, "weights": weights, "triangles": triangles}


def read_hand_model(folder: PathLike) -> dict[str, np.ndarray]:
    """The hand model in ``folder`` (ADBench's ``data/hand/model/``): see :func:`hand_model_from_texts`."""
    return hand_model_from_texts(lambda name: (_read_text(os.path.join(folder, name)),
                                               os.path.join(os.fspath(folder), name)))


def packaged_hand_model() -> dict[str, np.ndarray]:
    """The hand model packaged beside ADBench's hand test inputs (``hand_model/``, ADBench's ``data/hand/model/``)."""
    return {name: value.copy() for name, value in _packaged_hand_model().items()}


@lru_cache(maxsize=1)
def _packaged_hand_model() -> dict[str, np.ndarray]:
    return hand_model_from_texts(lambda name: (packaged_text(name, "hand_model"),
                                               f"the packaged ADBench hand model's {name}"))


def find_hand_model(path: PathLike, model_dir: PathLike | None = None) -> str:
    """The hand model folder for the input file ``path``: ``model_dir``, or ``hand_model/`` or ``model/`` beside it."""
    if model_dir is not None:
        folder = os.fspath(model_dir)
        missing = [name for name in HAND_MODEL_FILES if not os.path.isfile(os.path.join(folder, name))]
        if missing:
            raise InputError(f"model_dir={folder!r} has no {', '.join(missing)}; give the folder holding the hand "
                             f"model's {', '.join(HAND_MODEL_FILES)} (ADBench's data/hand/model/).")
        return folder
    beside = os.path.dirname(os.path.abspath(os.fspath(path)))
    for name in HAND_MODEL_FOLDERS:
        folder = os.path.join(beside, name)
        if all(os.path.isfile(os.path.join(folder, file)) for file in HAND_MODEL_FILES):
            return folder
    raise InputError(f"no hand model beside {os.fspath(path)!r}: looked for a folder "
                     f"{' or '.join(name + '/' for name in HAND_MODEL_FOLDERS)} in {beside!r} holding "
                     f"{', '.join(HAND_MODEL_FILES)}. Pass model_dir= the folder that holds them "
                     "(ADBench's data/hand/model/).")


def parse_hand(text: str, source: str, model: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any, np.ndarray]:
    """A hand point ``(params, X, Y)`` from the text of an ADBench hand input and the model's arrays.

    ``X`` is the model's arrays and ``correspondences`` (N,) (vertex or triangle indices); ``Y`` the observed
    points (N, 3). The complicated variant (N lines ``u0 u1`` before theta) adds ``us`` (N, 2) to the params.
    """
    lines = _Lines.of(text, source)
    if not lines.lines:
        raise lines.error("it is empty; the first line should be 'N n_theta' (points, pose parameters).")
    number, tokens = lines.lines[0]
    lines.position = 1
    if len(tokens) != 2 or not all(token.isdigit() and int(token) >= 1 for token in tokens):
        raise lines.error(f"line {number} is {' '.join(tokens)!r}, but the first line must be two positive integers "
                          "'N n_theta' (points, pose parameters).")
    n, n_theta = int(tokens[0]), int(tokens[1])
    if n_theta != HAND_THETA:
        raise lines.error(f"line {number} gives n_theta={n_theta}; ADBench's hand has {HAND_THETA} pose parameters.")
    bones = len(model["parents"])
    if bones < HAND_MIN_BONES:
        raise lines.error(f"its hand model has {bones} bones; ADBench's {HAND_THETA} pose parameters need at least "
                          f"{HAND_MIN_BONES}. Check the model folder.")
    points = lines.rows(n, 4, "the points ('index x y z')")
    after_points = lines.remaining()
    if after_points not in (n_theta, n + n_theta):
        raise lines.error(f"after the {n} point line(s) it has {after_points} line(s); the simple variant has the "
                          f"{n_theta} theta values there, the complicated one N={n} lines 'u0 u1' and then theta "
                          f"({n + n_theta} lines). Check N on the first line.")
    complicated = after_points == n + n_theta
    if complicated and len(lines.lines[lines.position][1]) != 2:
        number, tokens = lines.lines[lines.position]
        raise lines.error(f"line {number} has {len(tokens)} number(s), but with {after_points} lines after the "
                          f"points it should start the complicated variant's 'u0 u1' lines (2 numbers each): check "
                          f"N on the first line, and that theta has {n_theta} lines.")
    us = lines.rows(n, 2, "the us ('u0 u1', complicated variant)") if complicated else None
    theta = lines.rows(n_theta, 1, "theta (one value per line)")[:, 0]
    lines.finish()
    named, count = ("triangle", len(model["triangles"])) if complicated else ("vertex", len(model["base_positions"]))
    indices = points[:, 0]
    wrong = np.flatnonzero((indices != np.round(indices)) | (indices < 0) | (indices >= count))
    if wrong.size:
        raise lines.error(f"line {lines.lines[1 + int(wrong[0])][0]} (point {wrong[0]}) names {named} "
                          f"{indices[wrong[0]]:g}, but the model's {named} indices are whole numbers 0..{count - 1}.")
    params = {"theta": theta} if us is None else {"theta": theta, "us": us}
    return params, {**model, "correspondences": indices.astype(np.intp)}, points[:, 1:]


def read_hand(path: PathLike, model_dir: PathLike | None = None) -> tuple[dict[str, np.ndarray], Any, np.ndarray]:
    """The hand point of ADBench's input file ``path``, with the hand model from :func:`find_hand_model`."""
    text = _read_text(path)
    return parse_hand(text, os.fspath(path), read_hand_model(find_hand_model(path, model_dir)))


def hand_point_with_packaged_model(text: str, source: str) -> tuple[dict[str, np.ndarray], Any, np.ndarray]:
    """A hand point from an input's text, with the packaged hand model (ADBench's ``data/hand/model/``)."""
    return parse_hand(text, source, packaged_hand_model())


POINT_PARSERS: dict[str, Callable[[str, str], tuple[dict[str, np.ndarray], Any, object]]] = {
    "gmm": gmm_point_with_default_prior,
    "lstm": parse_lstm,
    "ba": parse_ba,
    "hand": hand_point_with_packaged_model,
}
"""``(text, source) -> (params, X, Y)`` for each objective whose ADBench files can be read, by model name."""


FOLDER_READERS: dict[str, Callable[[PathLike, "PathLike | None"], tuple[dict[str, np.ndarray], Any, object]]] = {
    "hand": read_hand,
}
"""``(path, model_dir) -> (params, X, Y)`` for the objectives whose inputs need files beside them (a hand model)."""


def read_adbench(name: str, path: PathLike, model_dir: PathLike | None = None
                 ) -> tuple[dict[str, np.ndarray], Any, object]:
    """The point ``(params, X, Y)`` stored in ADBench's input file ``path`` for objective ``name``.

    ``name`` is ``"gmm"``, ``"lstm"``, ``"ba"`` or ``"hand"``, the model to check the
    point with (``gb.check(..., *read_adbench("gmm", path), model="gmm")``). A GMM file
    written for a Wishart prior other than ADBench's default is refused with
    an :class:`InputError` that says how to read and check it instead. A hand
    input needs its hand model: ``model_dir``, or a ``hand_model/`` or
    ``model/`` folder beside the file.
    """
    if name not in POINT_PARSERS:
        raise InputError(f"read_adbench reads ADBench inputs for {', '.join(map(repr, POINT_PARSERS))}, not "
                         f"{name!r}; pass one of those names and the path of a matching file.")
    if name in FOLDER_READERS:
        return FOLDER_READERS[name](path, model_dir)
    if model_dir is not None:
        raise InputError(f"model_dir= is the hand model's folder, for {', '.join(map(repr, FOLDER_READERS))} "
                         f"inputs only; a {name!r} input is one file: leave model_dir out.")
    return POINT_PARSERS[name](_read_text(path), os.fspath(path))


PACKAGED_DATA = ("gradcheck_bench.models", "adbench_data")
"""Where the package keeps ADBench's test inputs and reference values (with ADBench's MIT notice)."""

PACKAGED_INPUTS = {"gmm": "gmm_test.txt", "lstm": "lstm_l2_c1024.txt", "ba": "ba_test.txt", "hand": "hand_test.txt"}
"""ADBench's test input for each objective, as packaged: ADBench's data/gmm/test.txt,
data/lstm/lstm_l2_c1024.txt, data/ba/test.txt and data/hand/test.txt (its complicated variant is
hand_complicated.txt)."""


def packaged_text(filename: str, subfolder: str | None = None) -> str:
    """The text of one of the packaged ADBench files (``gmm_test.txt``, ``references.json``, ...)."""
    from importlib.resources import files

    package, folder = PACKAGED_DATA
    # one name per joinpath: Traversable.joinpath takes several only from Python 3.11
    place = files(package).joinpath(folder)
    if subfolder is not None:
        place = place.joinpath(subfolder)
    return place.joinpath(filename).read_text(encoding="utf-8")


@overload
def packaged_test_input(name: Literal["gmm"]) -> tuple[dict[str, np.ndarray], np.ndarray, None]: ...


@overload
def packaged_test_input(name: Literal["lstm"]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]: ...


@overload
def packaged_test_input(name: str, filename: str | None = None) -> tuple[dict[str, np.ndarray], Any, object]: ...


def packaged_test_input(name: str, filename: str | None = None) -> tuple[dict[str, np.ndarray], Any, object]:
    """ADBench's test input for ``"gmm"``, ``"lstm"`` or ``"hand"``, the one its reference values were computed
    at; ``filename`` another packaged input for the same objective (``hand_complicated.txt``)."""
    filename = PACKAGED_INPUTS[name] if filename is None else filename
    return POINT_PARSERS[name](packaged_text(filename), f"the packaged ADBench input {filename}")


def packaged_references() -> dict[str, dict[str, object]]:
    """ADBench's reference objective and gradient per test input file name (its ``references.json``)."""
    return json.loads(packaged_text("references.json"))


def _read_text(path: PathLike) -> str:
    """The file's text, or an InputError that says why it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InputError(f"no file at {os.fspath(path)!r}; give the path of an ADBench input file "
                         "(e.g. ADBench's data/gmm/test.txt or data/lstm/lstm_l2_c1024.txt).") from None
    except IsADirectoryError:
        raise InputError(f"{os.fspath(path)!r} is a directory; give the path of one ADBench input file in it.") from None
    except UnicodeDecodeError:
        raise InputError(f"{os.fspath(path)!r} is not a text file; ADBench inputs are plain text.") from None
    except OSError as error:
        raise InputError(f"{os.fspath(path)!r} cannot be read ({error.strerror or error}); check its permissions.") \
            from None
    except TypeError:
        raise InputError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}.") from None
