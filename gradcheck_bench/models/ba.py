"""ADBench's bundle adjustment (BA): reprojection residuals of m points seen by n cameras, and their Jacobian.

The residuals are ADBench's function (Rodrigues' rotation is written with
the coefficients ``sin t / t`` and ``(1 - cos t) / t^2``, which differs from
ADBench's arrangement only in rounding), so its published reference values
(residuals and the CSR Jacobian of ``data/ba/test.txt``) are ours too.
Parameters:

* ``cams`` ``(n, 11)``: per camera an angle-axis rotation ``r`` (3), the
  centre ``C`` (3), the focal length ``f``, the principal point ``x0`` (2)
  and the radial distortion ``k1, k2``;
* ``X`` ``(m, 3)``: the points;
* ``w`` ``(p,)``: one weight per observation.

Fixed data: the point's ``X`` is ``obs`` ``(p, 2)``, integers (camera, point)
per observation, and its ``Y`` the measured features ``(p, 2)``. For
observation ``i`` of point ``j`` by camera ``c``:

    Y  = X_j - C                                          the point relative to the camera
    Xc = Y cos t + (w x Y) sin t + w (w . Y)(1 - cos t)   Rodrigues, t = |r|, w = r / t
         (Y + r x Y where |r| is exactly 0, as ADBench does)
    q  = Xc[:2] / Xc[2]                                   the pinhole projection
    D  = q (1 + k1 |q|^2 + k2 |q|^4)                      radial distortion
    e_i = w_i (f D + x0 - feature_i)                      the reprojection error (2 numbers)
    u_i = 1 - w_i^2                                       the weight error

:func:`ba_residuals` returns ``[e_0x, e_0y, e_1x, ..., u_0, ..., u_{p-1}]``
(3p numbers, ADBench's order); the cost is the least-squares objective
``0.5 |residuals|^2`` that BA minimises. The Jacobian is sparse: a
reprojection row depends on its camera's 11 numbers, its point's 3 and its
weight, a weight row on its weight alone. The model declares that pattern
(:func:`ba_sparsity`), so the fd oracle perturbs columns that share no row
together (:mod:`gradcheck_bench.differences.coloring`): every camera's
parameter k in one centered difference, every point's coordinate in one,
every weight in one: 15 colours whatever n, m and p.

The planted bug is the classic slip in the distortion's reverse step: ``D =
q L(|q|^2)`` differentiated as if ``L`` were a constant, dropping
``q dL/dq``. It reaches everything upstream of ``q`` (rotation, centre,
points), so a check names ``cams`` and ``X`` and passes ``w``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..adbench import packaged_test_input
from ..errors import InputError
from ..validation import is_count
from . import Model, Params, PlantedBug

PARAMETER_NAMES = ("cams", "X", "w")
CAMERA_PARAMETERS = 11
"""Per camera: rotation (0-2), centre (3-5), focal length (6), principal point (7-8), radial distortion (9-10)."""
ROTATION, CENTRE, FOCAL, PRINCIPAL, DISTORTION = slice(0, 3), slice(3, 6), 6, slice(7, 9), slice(9, 11)
ROW_NONZEROS = CAMERA_PARAMETERS + 3 + 1
"""A reprojection row's structural nonzeros: its camera's 11 numbers, its point's 3, its weight."""


# --------------------------------------------------------------------------
# The residuals, written once for any array namespace
# --------------------------------------------------------------------------


def cross(a: Any, b: Any, xp: Any = np) -> Any:
    """``a x b`` over the last axis (written out: one form for every namespace, complex included)."""
    return xp.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


def rotation_coefficients(r: Any, xp: Any = np) -> tuple[Any, Any, Any, Any, Any]:
    """``(zero, t, cos t, sin t / t, (1 - cos t) / t^2)`` for the angle ``t = |r|`` of each row of ``r``.

    Rodrigues' ``Y cos t + (w x Y) sin t + w (w . Y)(1 - cos t)`` with ``w = r / t``
    is ``Y cos t + (r x Y) sin t / t + r (r . Y)(1 - cos t) / t^2``. Where
    ``|r|^2`` is exactly 0, ADBench takes the first-order form ``Y + r x Y``:
    the coefficients 1, 1 and 0, constants (their true slopes at 0 are 0 too,
    so value and derivative are Rodrigues' limit's). The angle there is taken
    as 1 inside the discarded branch, so no 0/0 appears, not even where
    ``where`` drops it (autograd would carry its NaN).
    """
    squared = xp.sum(r * r, axis=-1)
    zero = squared == 0
    safe = xp.where(zero, xp.ones_like(squared), squared)
    theta = xp.sqrt(safe)
    cos = xp.cos(theta)
    return (zero, theta, xp.where(zero, xp.ones_like(cos), cos), xp.where(zero, xp.ones_like(cos), xp.sin(theta) / theta),
            xp.where(zero, xp.zeros_like(cos), (1 - cos) / safe))


def rodrigues_rotate(r: Any, Y: Any, xp: Any = np) -> Any:
    """Each row of ``Y`` rotated by the angle-axis row of ``r`` (both ``(p, 3)``), as ADBench rotates."""
    _, _, cos, sinc, versine = rotation_coefficients(r, xp)
    along = xp.sum(r * Y, axis=-1) * versine
    return Y * cos[:, None] + cross(r, Y, xp) * sinc[:, None] + r * along[:, None]


def projections(cams: Any, points: Any, obs: Any, xp: Any = np) -> Any:
    """``f D + x0`` per observation ``(p, 2)``: where each camera sees each observed point."""
    cam, point = cams[obs[:, 0]], points[obs[:, 1]]
    Xc = rodrigues_rotate(cam[:, ROTATION], point - cam[:, CENTRE], xp)
    q = Xc[:, :2] / Xc[:, 2:3]
    squared = xp.sum(q * q, axis=-1)
    distortion = 1 + cam[:, 9] * squared + cam[:, 10] * squared * squared
    return q * (distortion * cam[:, FOCAL])[:, None] + cam[:, PRINCIPAL]


def ba_residuals(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
    """The 3p residuals in ADBench's order: ``w_i (projection_i - feature_i)``, x then y per observation, then
    ``1 - w_i^2`` per observation. ``X`` is ``obs`` ``(p, 2)`` (camera, point), ``Y`` the features ``(p, 2)``."""
    w = params["w"]
    reprojection = w[:, None] * (projections(params["cams"], params["X"], X, xp) - Y)
    return xp.concatenate([xp.reshape(reprojection, (-1,)), 1 - w * w])


def ba_cost(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
    """The least-squares objective ``0.5 |residuals|^2`` that bundle adjustment minimises."""
    residuals = ba_residuals(params, X, Y, xp)
    return 0.5 * xp.sum(residuals * residuals)


# --------------------------------------------------------------------------
# The hand-written Jacobian: reverse mode from both reprojection coordinates at once,
# each step under the forward line it reverses
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservationBlocks:
    """The Jacobian's nonzeros, per observation: what every other form of it is assembled from."""

    cams: np.ndarray  # (p, 2, 11): d e_i / d (its camera)
    X: np.ndarray  # (p, 2, 3): d e_i / d (its point)
    w: np.ndarray  # (p, 2): d e_i / d w_i
    weight_rows: np.ndarray  # (p,): d u_i / d w_i


def observation_blocks(params: Params, obs: np.ndarray, features: np.ndarray,
                       distortion_chain: bool = True) -> ObservationBlocks:
    """``d e_i / d (camera, point, weight)`` for every observation, by reverse mode with two seeds (x and y).

    A cotangent ``G_v`` has shape ``(p, 2) + v's shape``: row ``k`` is ``d e_ik / d v``.
    ``distortion_chain=False`` is the planted bug (``q dL/dq`` forgotten).
    """
    cams, points, w = params["cams"], params["X"], params["w"]
    cam, point = cams[obs[:, 0]], points[obs[:, 1]]
    r, C, f, x0, k1, k2 = cam[:, ROTATION], cam[:, CENTRE], cam[:, FOCAL], cam[:, PRINCIPAL], cam[:, 9], cam[:, 10]
    # forward, as ba_residuals computes it
    Y = point - C
    zero, theta, cos, sinc, versine = rotation_coefficients(r)
    v = np.cross(r, Y)
    dot = np.sum(r * Y, axis=1)
    Xc = Y * cos[:, None] + v * sinc[:, None] + r * (dot * versine)[:, None]
    z = Xc[:, 2]
    q = Xc[:, :2] / z[:, None]
    rsq = np.sum(q * q, axis=1)
    L = 1 + k1 * rsq + k2 * rsq * rsq
    D = q * L[:, None]
    projection = D * f[:, None] + x0

    p = obs.shape[0]
    eye = np.broadcast_to(np.eye(2), (p, 2, 2))
    # e = w (projection - feature)
    d_w = projection - features                                   # (p, 2): d e_k / d w
    G_projection = w[:, None, None] * eye
    # projection = f D + x0
    d_f = np.einsum("pkj,pj->pk", G_projection, D)
    d_x0 = G_projection
    G_D = G_projection * f[:, None, None]
    # D = q L
    G_L = np.einsum("pkj,pj->pk", G_D, q)
    G_q = G_D * L[:, None, None]
    # L = 1 + k1 rsq + k2 rsq^2
    d_k1 = G_L * rsq[:, None]
    d_k2 = G_L * (rsq * rsq)[:, None]
    G_rsq = G_L * (k1 + 2 * k2 * rsq)[:, None]
    # rsq = q . q
    if distortion_chain:
        G_q = G_q + 2 * G_rsq[:, :, None] * q[:, None, :]
    # q = Xc[:2] / z
    G_Xc = np.concatenate([G_q / z[:, None, None],
                           -np.einsum("pkj,pj->pk", G_q, q)[:, :, None] / z[:, None, None]], axis=2)
    G_Y, G_r = _reverse_rotation(G_Xc, r, Y, zero, theta, cos, sinc, versine, v, dot)
    # Y = X_j - C
    d_point, d_C = G_Y, -G_Y
    d_cam = np.concatenate([G_r, d_C, d_f[:, :, None], d_x0, d_k1[:, :, None], d_k2[:, :, None]], axis=2)
    # u_i = 1 - w_i^2
    return ObservationBlocks(cams=d_cam, X=d_point, w=d_w, weight_rows=-2 * w)


def _reverse_rotation(G_Xc: np.ndarray, r: np.ndarray, Y: np.ndarray, zero: np.ndarray, theta: np.ndarray,
                      cos: np.ndarray, sinc: np.ndarray, versine: np.ndarray, v: np.ndarray,
                      dot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(G_Y, G_r)`` from ``G_Xc`` through :func:`rodrigues_rotate` (cotangents ``(p, 2, 3)``)."""
    Yk, rk = Y[:, None, :], r[:, None, :]
    # Xc = Y cos + v sinc + r (dot versine),  v = r x Y, dot = r . Y
    G_Y = G_Xc * cos[:, None, None]
    G_cos = np.sum(G_Xc * Yk, axis=2)
    G_v = G_Xc * sinc[:, None, None]
    G_sinc = np.sum(G_Xc * v[:, None, :], axis=2)
    G_r = G_Xc * (dot * versine)[:, None, None]
    G_along = np.sum(G_Xc * rk, axis=2)
    G_dot = G_along * versine[:, None]
    G_versine = G_along * dot[:, None]
    # dot = r . Y
    G_r = G_r + G_dot[:, :, None] * Yk
    G_Y = G_Y + G_dot[:, :, None] * rk
    # v = r x Y:  g . (r x Y) = Y . (g x r) = r . (Y x g)
    G_r = G_r + np.cross(Yk, G_v)
    G_Y = G_Y + np.cross(G_v, rk)
    # cos = cos t, sinc = sin t / t, versine = (1 - cos t) / t^2  (constants 1, 1, 0 where r = 0)
    t, c, s = theta, np.cos(theta), np.sin(theta)
    G_theta = (-G_cos * s[:, None] + G_sinc * ((t * c - s) / t**2)[:, None]
               + G_versine * ((t * s - 2 * (1 - c)) / t**3)[:, None])
    G_theta = np.where(zero[:, None], 0.0, G_theta)
    # t = sqrt(r . r)
    G_r = G_r + G_theta[:, :, None] * (r / t[:, None])[:, None, :]
    return G_Y, G_r


def jacobian_from_blocks(blocks: ObservationBlocks, params: Params, obs: np.ndarray) -> Params:
    """The dense Jacobian, one block per parameter of shape ``(3p,) + param.shape``."""
    n, m, p = params["cams"].shape[0], params["X"].shape[0], obs.shape[0]
    observations = np.arange(p)
    cams = np.zeros((p, 3, n, CAMERA_PARAMETERS))  # rows 2i, 2i+1 and (apart) 2p + i, as (i, 0..2)
    cams[observations, :2, obs[:, 0], :] = blocks.cams
    points = np.zeros((p, 3, m, 3))
    points[observations, :2, obs[:, 1], :] = blocks.X
    weights = np.zeros((p, 3, p))
    weights[observations, :2, observations] = blocks.w
    weights[observations, 2, observations] = blocks.weight_rows

    def rows_in_order(block: np.ndarray) -> np.ndarray:
        """(p, 3, ...) with the third row apart: the 2p reprojection rows first, then the p weight rows."""
        return np.concatenate([block[:, :2].reshape((2 * p,) + block.shape[2:]), block[:, 2]])

    return {"cams": rows_in_order(cams), "X": rows_in_order(points), "w": rows_in_order(weights)}


def ba_jacobian(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """The residuals' Jacobian by the hand-written reverse mode: ``{cams: (3p, n, 11), X: (3p, m, 3), w: (3p, p)}``."""
    return jacobian_from_blocks(observation_blocks(params, X, Y), params, X)


def ba_gradient(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """The cost's gradient ``J^T residuals``, accumulated observation by observation (no dense Jacobian)."""
    return _gradient_from(observation_blocks(params, X, Y), params, X, Y)


def _gradient_from(blocks: ObservationBlocks, params: Params, obs: np.ndarray, features: np.ndarray) -> Params:
    residuals = ba_residuals(params, obs, features)
    p = obs.shape[0]
    e, u = residuals[:2 * p].reshape(p, 2), residuals[2 * p:]
    cams, points = np.zeros_like(params["cams"]), np.zeros_like(params["X"])
    np.add.at(cams, obs[:, 0], np.einsum("pk,pkj->pj", e, blocks.cams))
    np.add.at(points, obs[:, 1], np.einsum("pk,pkj->pj", e, blocks.X))
    return {"cams": cams, "X": points, "w": np.sum(e * blocks.w, axis=1) + u * blocks.weight_rows}


def ba_jacobian_without_distortion_chain(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """The planted bug: ``D = q L(|q|^2)`` reversed as if ``L`` did not depend on ``q``."""
    return jacobian_from_blocks(observation_blocks(params, X, Y, distortion_chain=False), params, X)


def ba_gradient_without_distortion_chain(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """The same planted bug in the cost's gradient."""
    return _gradient_from(observation_blocks(params, X, Y, distortion_chain=False), params, X, Y)


# --------------------------------------------------------------------------
# ADBench's sparse form, and the sparsity the fd oracle colours
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CSRJacobian:
    """ADBench's CSR form: ``rows`` (3p + 1 offsets), ``cols`` and ``vals`` in row order; within a reprojection
    row the camera's 11 columns, the point's 3, the weight's 1."""

    nrows: int
    ncols: int
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray


def ba_csr(params: Params, X: np.ndarray, Y: np.ndarray) -> CSRJacobian:
    """The hand-written Jacobian in ADBench's CSR layout (``BASparseMat``), comparable with its references."""
    return csr_from_blocks(observation_blocks(params, X, Y), params, X)


def csr_from_blocks(blocks: ObservationBlocks, params: Params, obs: np.ndarray) -> CSRJacobian:
    n, m, p = params["cams"].shape[0], params["X"].shape[0], obs.shape[0]
    columns, _ = _reprojection_columns(n, m, obs)                                   # (p, 15)
    values = np.concatenate([blocks.cams, blocks.X, blocks.w[:, :, None]], axis=2)  # (p, 2, 15)
    reprojection_cols = np.repeat(columns[:, None, :], 2, axis=1).reshape(-1)
    weight_cols = 11 * n + 3 * m + np.arange(p)
    rows = np.concatenate([ROW_NONZEROS * np.arange(2 * p + 1), ROW_NONZEROS * 2 * p + np.arange(1, p + 1)])
    return CSRJacobian(nrows=3 * p, ncols=11 * n + 3 * m + p, rows=rows,
                       cols=np.concatenate([reprojection_cols, weight_cols]),
                       vals=np.concatenate([values.reshape(-1), blocks.weight_rows]))


def _reprojection_columns(n: int, m: int, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per observation the 15 columns of its reprojection rows in ADBench's numbering, and which parameter
    each belongs to (0 cams, 1 X, 2 w)."""
    p = obs.shape[0]
    cam_cols = CAMERA_PARAMETERS * obs[:, :1] + np.arange(CAMERA_PARAMETERS)
    point_cols = CAMERA_PARAMETERS * n + 3 * obs[:, 1:2] + np.arange(3)
    weight_cols = (CAMERA_PARAMETERS * n + 3 * m + np.arange(p))[:, None]
    owner = np.repeat([0, 1, 2], [CAMERA_PARAMETERS, 3, 1])
    return np.concatenate([cam_cols, point_cols, weight_cols], axis=1), owner


def ba_sparsity(params: Params, X: np.ndarray, Y: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Where the residuals' Jacobian can be nonzero: per parameter, ``(output rows, flat entries)`` pairs.

    Observation ``i`` (camera ``c``, point ``j``) gives rows ``2i, 2i+1``
    entries ``11c .. 11c+10`` of ``cams``, ``3j .. 3j+2`` of ``X`` and ``i``
    of ``w``; row ``2p + i`` gives entry ``i`` of ``w``.
    """
    obs = np.asarray(X)
    p = obs.shape[0]
    reprojection_rows = np.arange(2 * p).reshape(p, 2)

    def pairs(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each observation's two rows against each of its entries (entries ``(p, k)``)."""
        k = entries.shape[1]
        return (np.repeat(reprojection_rows, k, axis=1).reshape(-1),
                np.tile(entries, (1, 2)).reshape(-1))

    cams = pairs(CAMERA_PARAMETERS * obs[:, :1] + np.arange(CAMERA_PARAMETERS))
    points = pairs(3 * obs[:, 1:2] + np.arange(3))
    observations = np.arange(p)
    weights = (np.concatenate([reprojection_rows.reshape(-1), 2 * p + observations]),
               np.concatenate([np.repeat(observations, 2), observations]))
    return {"cams": cams, "X": points, "w": weights}


# --------------------------------------------------------------------------
# Points to check at
# --------------------------------------------------------------------------


def validate_ba_point(params: Params, X: Any, Y: Any) -> None:
    """``cams (n, 11)``, ``X (m, 3)``, ``w (p,)``; data ``obs (p, 2)`` integers in range, features ``(p, 2)``."""
    if sorted(params) != sorted(PARAMETER_NAMES):
        raise InputError(f"BA takes parameters {', '.join(PARAMETER_NAMES)}; got {sorted(params)}. "
                         "Build a point with ba_point(n, m, p) or read_adbench('ba', path).")
    cams, points, w = (np.asarray(params[name]) for name in PARAMETER_NAMES)
    if cams.ndim != 2 or cams.shape[1] != CAMERA_PARAMETERS or cams.shape[0] < 1:
        raise InputError(f"cams must be (n, 11), one row per camera (rotation 3, centre 3, focal 1, principal "
                         f"point 2, distortion 2); got shape {cams.shape}.")
    if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] < 1:
        raise InputError(f"X must be (m, 3), one row per point; got shape {points.shape}.")
    if w.ndim != 1 or w.size < 1:
        raise InputError(f"w must be (p,), one weight per observation; got shape {w.shape}.")
    p = w.shape[0]
    obs = np.asarray(X)
    if obs.shape != (p, 2) or not np.issubdtype(obs.dtype, np.integer):
        raise InputError(f"the point's X must be the observations, integers (p, 2) = ({p}, 2) of (camera, point) "
                         f"for the {p} weights; got {obs.dtype} of shape {obs.shape}.")
    n, m = cams.shape[0], points.shape[0]
    if obs.size and (obs.min() < 0 or obs[:, 0].max() >= n or obs[:, 1].max() >= m):
        raise InputError(f"an observation names a camera outside 0..{n - 1} or a point outside 0..{m - 1}; "
                         "give indices into cams and X.")
    features = np.asarray(Y)
    if features.shape != (p, 2) or not np.issubdtype(features.dtype, np.floating):
        raise InputError(f"the point's Y must be the measured features, floats (p, 2) = ({p}, 2); got "
                         f"{features.dtype} of shape {features.shape}.")


def ba_point(n: int, m: int, p: int, seed: int = 0) -> tuple[Params, np.ndarray, np.ndarray]:
    """A random BA problem with n cameras, m points and p observations, from ``default_rng(seed)``.

    Points lie in the unit cube around the origin; each camera looks at the
    origin from 10 units away along its optical axis (small random rotation,
    focal length about 500, a little distortion), so every point is in front of
    every camera. Each point and each camera is observed at least once (p >=
    m, n); the features are the exact projections plus a pixel of noise, and
    the weights lie in [0.5, 1.5).
    """
    for name, value in (("n", n), ("m", m), ("p", p)):
        if not is_count(value):
            raise InputError(f"ba_point needs a positive integer {name}, got {value!r}.")
    if p < max(n, m):
        raise InputError(f"ba_point needs at least one observation per camera and per point: p >= max(n, m) = "
                         f"{max(n, m)}, got p={p}.")
    rng = np.random.default_rng(seed)
    rotation = rng.normal(0.0, 0.1, (n, 3))
    ahead = np.array([[0.0, 0.0, 10.0]]).repeat(n, axis=0)
    # the centre C with R (0 - C) = (0, 0, 10): C = -R^T (0, 0, 10), R^T being the rotation by -r
    centre = -rodrigues_rotate(-rotation, ahead)
    cams = np.concatenate([rotation, centre, rng.uniform(400.0, 600.0, (n, 1)), rng.normal(0.0, 5.0, (n, 2)),
                           rng.normal(0.0, 0.05, (n, 2))], axis=1)
    points = rng.uniform(-1.0, 1.0, (m, 3))
    obs = np.stack([rng.permutation(np.concatenate([np.arange(n), rng.integers(0, n, p - n)])),
                    rng.permutation(np.concatenate([np.arange(m), rng.integers(0, m, p - m)]))], axis=1)
    features = projections(cams, points, obs) + rng.normal(0.0, 1.0, (p, 2))
    return {"cams": cams, "X": points, "w": rng.uniform(0.5, 1.5, p)}, obs, features


ADBENCH_SIZES: dict[str, tuple[int, int, int]] = {
    "ba1": (49, 7776, 31843), "ba2": (21, 11315, 36455), "ba3": (161, 48126, 182072),
    "ba4": (372, 47423, 204472), "ba5": (257, 65132, 225911), "ba6": (539, 65220, 277273),
    "ba7": (93, 61203, 287451), "ba8": (88, 64298, 383937), "ba9": (810, 88814, 393775),
    "ba10": (1197, 126327, 563734), "ba11": (1723, 156502, 678718), "ba12": (253, 163691, 899155),
    "ba13": (245, 198739, 1091386), "ba14": (356, 226730, 1255268), "ba15": (1102, 780462, 4052340),
    "ba16": (1544, 942409, 4750193), "ba17": (1778, 993923, 5001946), "ba18": (1936, 649673, 5213733),
    "ba19": (4585, 1324582, 9125125), "ba20": (13682, 4456117, 2987644),
}
"""``(n, m, p)`` of ADBench's BA inputs ``data/ba/ba{k}_n{n}_m{m}_p{p}.txt``; ``ba_point(*ADBENCH_SIZES["ba1"])``
draws a problem of that size. Their dense Jacobians (3p x (11n + 3m + p)) do not fit in memory, so the
Jacobian cases below are smaller; the residuals, JVPs and VJPs run at these sizes."""


def adbench_test_point() -> tuple[Params, np.ndarray, np.ndarray]:
    """ADBench's BA test input (``data/ba/test.txt``: n=2, m=10, p=10), the point of its reference values."""
    params, obs, features = packaged_test_input("ba")
    return params, obs, np.asarray(features)


def _generated(n: int, m: int, p: int) -> Callable[[], tuple[Params, np.ndarray, np.ndarray]]:
    return lambda: ba_point(n, m, p, seed=0)


GENERATED_SIZES: tuple[tuple[int, int, int], ...] = ((5, 50, 200), (10, 100, 500))
"""``(n, m, p)`` of the generated cases: ADBench's ratios (several observations per point, many points per
camera) at sizes whose dense Jacobian an exact source computes in seconds."""

CASES: dict[str, Callable[[], tuple[Params, np.ndarray, np.ndarray]]] = {
    "ba-adbench-test": adbench_test_point,
    **{f"ba-n{n}-m{m}-p{p}": _generated(n, m, p) for n, m, p in GENERATED_SIZES},
}


MODEL = Model(
    name="ba",
    cost=ba_cost,
    function=ba_residuals,
    description="ADBench's bundle adjustment: reprojection and weight residuals of m points seen by n cameras",
    validate_point=validate_ba_point,
    gradient=ba_gradient,
    derivatives={"jacobian": ba_jacobian},
    planted_bug=PlantedBug(
        ba_gradient_without_distortion_chain,
        "the radial distortion D = q L(|q|^2) reversed as if L were constant (q dL/dq forgotten)",
        ("cams", "X"),
        derivatives={"jacobian": ba_jacobian_without_distortion_chain},
    ),
    cases=CASES,
    jacobian_sparsity=ba_sparsity,
    complex_safe=True,
)
