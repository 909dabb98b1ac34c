"""ADBench's input files for the GMM, LSTM and BA objectives, read into points ``(params, X, Y)``.

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

Every problem with a file (missing, unreadable, a wrong count, a token that
is not a number) is an :class:`~gradcheck_bench.errors.InputError` that says
where the file departs from the format and what to do.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable, Literal, NamedTuple, Union, overload

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


POINT_PARSERS: dict[str, Callable[[str, str], tuple[dict[str, np.ndarray], np.ndarray, object]]] = {
    "gmm": gmm_point_with_default_prior,
    "lstm": parse_lstm,
    "ba": parse_ba,
}
"""``(text, source) -> (params, X, Y)`` for each objective whose ADBench files can be read, by model name."""


def read_adbench(name: str, path: PathLike) -> tuple[dict[str, np.ndarray], np.ndarray, object]:
    """The point ``(params, X, Y)`` stored in ADBench's input file ``path`` for objective ``name``.

    ``name`` is ``"gmm"``, ``"lstm"`` or ``"ba"``, the model to check the point with
    (``gb.check(..., *read_adbench("gmm", path), model="gmm")``). A GMM file
    written for a Wishart prior other than ADBench's default is refused with
    an :class:`InputError` that says how to read and check it instead.
    """
    if name not in POINT_PARSERS:
        raise InputError(f"read_adbench reads ADBench inputs for {', '.join(map(repr, POINT_PARSERS))}, not "
                         f"{name!r}; pass one of those names and the path of a matching file.")
    return POINT_PARSERS[name](_read_text(path), os.fspath(path))


PACKAGED_DATA = ("gradcheck_bench.models", "adbench_data")
"""Where the package keeps ADBench's test inputs and reference values (with ADBench's MIT notice)."""

PACKAGED_INPUTS = {"gmm": "gmm_test.txt", "lstm": "lstm_l2_c1024.txt", "ba": "ba_test.txt"}
"""ADBench's test input for each objective, as packaged: ADBench's data/gmm/test.txt,
data/lstm/lstm_l2_c1024.txt and data/ba/test.txt."""


def packaged_text(filename: str) -> str:
    """The text of one of the packaged ADBench files (``gmm_test.txt``, ``references.json``, ...)."""
    from importlib.resources import files

    package, folder = PACKAGED_DATA
    # one name per joinpath: Traversable.joinpath takes several only from Python 3.11
    return files(package).joinpath(folder).joinpath(filename).read_text(encoding="utf-8")


@overload
def packaged_test_input(name: Literal["gmm"]) -> tuple[dict[str, np.ndarray], np.ndarray, None]: ...


@overload
def packaged_test_input(name: Literal["lstm"]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]: ...


@overload
def packaged_test_input(name: str) -> tuple[dict[str, np.ndarray], np.ndarray, object]: ...


def packaged_test_input(name: str) -> tuple[dict[str, np.ndarray], np.ndarray, object]:
    """ADBench's test input for ``"gmm"`` or ``"lstm"``, the one its reference values were computed at."""
    filename = PACKAGED_INPUTS[name]
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
