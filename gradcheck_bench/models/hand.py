"""ADBench's hand tracking (HT) objective: residuals between observed 3-D points and a skinned hand model.

The function is ADBench's, term for term, so its published residuals and
Jacobians (``references.json``) are ours too. The hand model (fixed data) is
22 bones in a tree, each with a rest transform relative to its parent and an
inverse rest absolute transform, and rest vertices with linear-blend skinning
weights. For the 26 pose parameters ``theta``:

* each bone's three Euler angles come from ``theta`` (:func:`angle_index`:
  two angles for each finger's second bone, one each for its third and fourth;
  every other angle is 0), read as ADBench reads them, in the order x, z, y,
  and composed ``R = Rz Ry Rx``;
* posed relative transform = rest relative transform times ``[[R, 0], [0, 1]]``;
  absolute transforms are products down the tree; each bone's skinning
  transform is its absolute transform times its inverse rest absolute one;
* a posed vertex is the weight-blended sum of the skinning transforms applied
  to the homogeneous rest vertex; then the global rotation (angle-axis
  ``theta[0:3]``, the identity when its norm is below ``1e-4``) and the
  translation ``theta[3:6]`` are applied (the global scale is 1).

Simple variant: each observed point names a vertex and its residual is the
observed point minus the posed vertex. Complicated variant: each point names a
triangle and has barycentric parameters ``us[i] = (u0, u1)``; the model point is
``u0 a + u1 b + (1 - u0 - u1) c`` over the triangle's posed vertices, and the
``us`` are parameters too. The output is the 3N residuals, point by point
(x, y, z), ADBench's order.

Point: params ``{"theta": (26,)}`` (simple) or ``{"theta": (26,), "us": (N, 2)}``
(complicated); X the hand model's arrays and the ``correspondences`` (a dict,
as :func:`gradcheck_bench.adbench.read_hand_model` gives them); Y the observed
points ``(N, 3)``. Which variant a point is is read off its params.

The function is written once against ``xp`` and stays analytic for the
complex step. It computes only the vertices the points use. The two places
where a value decides something are data, not parameters (the bone tree, read
by index so jax can trace it) and the global rotation's small-angle branch,
decided on the real part of the norm with ``xp.where`` (and a safe norm inside
the unused branch, so no source differentiates a division by zero).

The scalar cost is ``0.5 |r|^2``, the least-squares objective these
residuals serve (ADBench itself stops at the residuals and their Jacobian).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..adbench import HAND_MIN_BONES, HAND_THETA, packaged_hand_model, packaged_test_input
from ..errors import InputError
from ..validation import is_count
from . import Model, Params, PlantedBug

SMALL_ROTATION = 1e-4
"""Below this angle-axis norm ADBench's global rotation is the identity."""

FINGERS = 5
HAND_DATA = ("parents", "base_relatives", "inverse_base_absolutes", "base_positions", "weights", "triangles",
             "correspondences")
"""The keys of a hand point's X."""


# --------------------------------------------------------------------------
# The function, written once for any array namespace
# --------------------------------------------------------------------------


def angle_index(bones: int) -> np.ndarray:
    """``(bones, 3)`` positions into ``[0, theta[6:]]``: where each bone's Euler angles (x, z, y) come from.

    ADBench's ``to_pose_params``: finger f (thumb, index, middle, ring, pinky)
    owns bones 2 + 4f to 4 + 4f; its second bone takes two angles (x and z),
    its third and fourth one each (x); every other angle takes position 0, a
    zero. Global rotation and translation are ``theta[0:6]``, handled apart.
    """
    index = np.zeros((bones, 3), dtype=np.intp)
    position = 1
    for finger in range(FINGERS):
        first = 2 + 4 * finger
        index[first, 0], index[first, 1] = position, position + 1
        index[first + 1, 0] = position + 2
        index[first + 2, 0] = position + 3
        position += 4
    return index


def stacked(rows: list[list[Any]], xp: Any) -> Any:
    """A matrix (or a stack of them) from its entries: ``rows[i][j]`` are arrays of one shape."""
    return xp.stack([xp.stack(row, axis=-1) for row in rows], axis=-2)


def euler_factors(angles: Any, xp: Any) -> tuple[Any, Any, Any]:
    """``Rx, Ry, Rz`` ``(B, 3, 3)`` for angles ``(B, 3)`` in ADBench's order x, z, y (its signs, its ``Ry``)."""
    cosines, sines = xp.cos(angles), xp.sin(angles)
    cx, cz, cy = cosines[:, 0], cosines[:, 1], cosines[:, 2]
    sx, sz, sy = sines[:, 0], sines[:, 1], sines[:, 2]
    zero = xp.zeros_like(cx)
    one = zero + 1
    Rx = stacked([[one, zero, zero], [zero, cx, -sx], [zero, sx, cx]], xp)
    Ry = stacked([[cy, zero, -sy], [zero, one, zero], [sy, zero, cy]], xp)
    Rz = stacked([[cz, -sz, zero], [sz, cz, zero], [zero, zero, one]], xp)
    return Rx, Ry, Rz


def identity(size: int, like: Any, xp: Any) -> Any:
    """The ``size x size`` identity in ``like``'s kind of array and dtype (a scalar ``like``)."""
    zero = xp.zeros_like(like)
    one = zero + 1
    return stacked([[one if row == column else zero for column in range(size)] for row in range(size)], xp)


def cross_matrix(k: Any, xp: Any) -> Any:
    """``[k]_x``, the matrix of ``v -> k x v``."""
    zero = xp.zeros_like(k[0])
    return stacked([[zero, -k[2], k[1]], [k[2], zero, -k[0]], [-k[1], k[0], zero]], xp)


@dataclass(frozen=True)
class GlobalRotation:
    """Rodrigues' rotation of ADBench's global angle-axis, and what its derivative needs."""

    R: Any  # (3, 3)
    small: Any  # whether |angle-axis| < SMALL_ROTATION (R is then the identity)
    norm: Any  # |angle-axis| (1 where small: the unused branch never divides by 0)
    axis: Any  # angle-axis / norm


def global_rotation(angle_axis: Any, xp: Any) -> GlobalRotation:
    """``R = cos n I + (1 - cos n) k k^T + sin n [k]_x`` for ``n = |angle-axis|``, ``k`` its unit axis.

    ADBench takes the identity when ``n < 1e-4``; the branch is decided on the
    real part (for the complex step) with ``xp.where``, and the norm inside
    the other branch is made 1 there, so a source that differentiates both
    branches meets no ``0/0``.
    """
    squared = xp.sum(angle_axis * angle_axis)
    small = xp.sqrt(xp.sum(angle_axis.real * angle_axis.real)) < SMALL_ROTATION
    norm = xp.sqrt(xp.where(small, xp.ones_like(squared), squared))
    axis = angle_axis / norm
    c, s = xp.cos(norm), xp.sin(norm)
    eye = identity(3, norm, xp)
    rodrigues = c * eye + (1 - c) * (axis[:, None] * axis[None, :]) + s * cross_matrix(axis, xp)
    return GlobalRotation(xp.where(small, eye, rodrigues), small, norm, axis)


def used_vertices(params: Params, X: Any) -> Any:
    """The vertices the points use, in order: one a point (simple), a triangle's three (complicated)."""
    if "us" in params:
        return X["triangles"][X["correspondences"]].reshape(-1)
    return X["correspondences"]


def absolute_transforms(relatives: Any, parents: Any, xp: Any) -> Any:
    """``absolutes[b] = absolutes[parent[b]] @ relatives[b]`` down the tree (``relatives[b]`` at a root).

    Written as passes over all bones at once: each pass extends every product
    one level down the tree, so after as many passes as the tree is deep (at
    most ``bones - 1``) each is the product ADBench's loop computes, in the
    same order. The parents are data, never read in Python (jax traces them):
    each bone's parent transform is picked by a one-hot weighted sum, exact
    (ones and zeros), where a gather would cost more: torch's batched backward
    of a gather runs row by row, and jit compiles a loop over the bones
    several times slower than these passes.
    """
    bones = relatives.shape[0]
    bone_numbers = xp.cumsum(xp.ones_like(parents), axis=0) - 1  # 0..B-1, on the parents' own device
    zero = xp.zeros_like(relatives[0, 0, 0])
    parent_of = xp.where(parents[:, None] == bone_numbers[None, :], zero + 1, zero)   # (B, B) one-hot; 0 at a root
    root = (parents < 0)[:, None, None]
    absolutes = relatives
    for _ in range(bones - 1):
        parent_absolutes = xp.sum(parent_of[:, :, None, None] * absolutes[None], axis=1)
        absolutes = xp.where(root, relatives, parent_absolutes @ relatives)
    return absolutes


@dataclass(frozen=True)
class HandForward:
    """What one evaluation computed; the hand-written Jacobian pushes tangents through it line by line."""

    angles: Any  # Euler angles per bone, (x, z, y)             (B, 3)
    factors: tuple[Any, Any, Any]  # Rx, Ry, Rz per bone         (B, 3, 3) each
    relatives: Any  # posed relative transforms                 (B, 4, 4)
    absolutes: Any  # posed absolute transforms                 (B, 4, 4)
    positions: Any  # rest positions of the used vertices       (M, 3)
    weights: Any  # their skinning weights                      (M, B)
    local: Any  # skinned positions, before the global motion   (M, 3)
    rotation: GlobalRotation
    world: Any  # posed vertices                                (M, 3)
    model_points: Any  # the points matched to the observations (N, 3)
    residuals: Any  # observed - model, flattened               (3N,)


def hand_forward(params: Params, X: Any, Y: Any, xp: Any = np) -> HandForward:
    """Evaluate ADBench's hand residuals, keeping the intermediate arrays."""
    theta = params["theta"]
    bones = X["base_relatives"].shape[0]
    angles = xp.concatenate([xp.zeros_like(theta[:1]), theta[6:]])[angle_index(bones)]
    Rx, Ry, Rz = euler_factors(angles, xp)
    R = Rz @ Ry @ Rx
    base = X["base_relatives"]
    relatives = xp.concatenate([base[:, :, :3] @ R, base[:, :, 3:]], axis=2)
    absolutes = absolute_transforms(relatives, X["parents"], xp)
    transforms = absolutes @ X["inverse_base_absolutes"]
    vertices = used_vertices(params, X)
    positions, weights = X["base_positions"][vertices], X["weights"][vertices]
    blended = (weights @ transforms[:, :3, :].reshape(bones, 12)).reshape(-1, 3, 4)
    local = (blended[:, :, :3] @ positions[:, :, None])[:, :, 0] + blended[:, :, 3]
    rotation = global_rotation(theta[:3], xp)
    world = local @ rotation.R.T + theta[3:6]
    if "us" in params:
        corners = world.reshape(-1, 3, 3)  # [point, corner a/b/c, xyz]
        u0, u1 = params["us"][:, 0:1], params["us"][:, 1:2]
        model_points = u0 * corners[:, 0] + u1 * corners[:, 1] + (1 - u0 - u1) * corners[:, 2]
    else:
        model_points = world
    residuals = (Y - model_points).reshape(-1)
    return HandForward(angles, (Rx, Ry, Rz), relatives, absolutes, positions, weights, local, rotation, world,
                       model_points, residuals)


def hand_residuals(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
    """The 3N residuals ``observed - model point``, point by point (x, y, z): ADBench's objective output."""
    return hand_forward(params, X, Y, xp).residuals


def hand_cost(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
    """``0.5 |residuals|^2``: the least-squares objective the residuals serve."""
    residuals = hand_residuals(params, X, Y, xp)
    return 0.5 * xp.sum(residuals * residuals)


# --------------------------------------------------------------------------
# The hand-written Jacobian: forward mode, one tangent per theta column
# --------------------------------------------------------------------------
#
# Forward mode because theta has 26 entries and the output 3N (N in the
# thousands at ADBench's larger sizes): one tangent per theta column pushed
# through the bone tree costs the same whatever N is, up to the skinning of
# the used vertices, and the chain of 4x4 products carries a tangent the way
# it carries the transforms. The us enter only the last, linear line, so
# their block is written down directly.


def euler_partials(factors: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """``dR/dx, dR/dz, dR/dy`` ``(B, 3, 3)`` of ``R = Rz Ry Rx`` (each factor's derivative in its place)."""
    Rx, Ry, Rz = factors
    return Rz @ Ry @ rotation_derivative(Rx, 0), rotation_derivative(Rz, 2) @ Ry @ Rx, \
        Rz @ rotation_derivative(Ry, 1) @ Rx


def rotation_derivative(R: np.ndarray, axis: int) -> np.ndarray:
    """The derivative of a rotation about coordinate ``axis`` by its angle: ``dR/dt = R K`` for ``R = exp(t K)``,
    ``K`` the generator :func:`euler_factors` built it from."""
    generator = np.zeros((3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    sign = -1.0 if axis == 1 else 1.0  # ADBench's Ry turns the other way: Ry[2, 0] = +sin
    generator[j, i], generator[i, j] = sign, -sign
    return R @ generator


def rodrigues_derivatives(rotation: GlobalRotation) -> np.ndarray:
    """``dR/d angle-axis_j`` ``(3, 3, 3)`` of :func:`global_rotation` (zero in its identity branch)."""
    if rotation.small:
        return np.zeros((3, 3, 3))
    n, k = rotation.norm, rotation.axis
    c, s = np.cos(n), np.sin(n)
    d_axis = (np.eye(3) - np.outer(k, k)) / n  # row j: how k = aa / n moves along aa_j
    # forward: R = c I + (1 - c) k k^T + s [k]_x, with n = |aa| (dn/daa_j = k_j)
    d_R_d_norm = -s * np.eye(3) + s * np.outer(k, k) + c * cross_matrix(k, np)
    return np.stack([d_R_d_norm * k[j] + (1 - c) * (np.outer(d_axis[j], k) + np.outer(k, d_axis[j]))
                     + s * cross_matrix(d_axis[j], np) for j in range(3)])


Partials = Callable[[tuple[Any, Any, Any]], tuple[Any, Any, Any]]


def finger_tangents(f: HandForward, X: Any, partials: Partials) -> np.ndarray:
    """``d local / d theta[6:]`` ``(20, M, 3)``: each finger angle's tangent pushed through the bone tree."""
    bones = f.angles.shape[0]
    index = angle_index(bones)
    d_angles = (index[None, :, :] == np.arange(1, HAND_THETA - 5)[:, None, None]).astype(float)  # (20, B, 3)
    d_x, d_z, d_y = partials(f.factors)
    # forward: R = Rz Ry Rx  (angles in the order x, z, y)
    d_R = (d_angles[:, :, 0, None, None] * d_x + d_angles[:, :, 1, None, None] * d_z
           + d_angles[:, :, 2, None, None] * d_y)                                                # (20, B, 3, 3)
    # forward: relatives = [base[:, :, :3] @ R, base[:, :, 3:]]
    d_relatives = np.zeros(d_R.shape[:2] + (4, 4))
    d_relatives[:, :, :, :3] = X["base_relatives"][:, :, :3] @ d_R
    # forward: absolutes[bone] = absolutes[parent] @ relatives[bone]  (identity above a root)
    d_absolutes = np.zeros_like(d_relatives)
    for bone in range(bones):
        parent = X["parents"][bone]
        if parent < 0:
            d_absolutes[:, bone] = d_relatives[:, bone]
        else:
            d_absolutes[:, bone] = (d_absolutes[:, parent] @ f.relatives[bone]
                                    + f.absolutes[parent] @ d_relatives[:, bone])
    # forward: transforms = absolutes @ inverse_base_absolutes
    d_transforms = d_absolutes @ X["inverse_base_absolutes"]
    # forward: blended = (weights @ transforms[:, :3, :]) per used vertex
    d_blended = (f.weights @ d_transforms[:, :, :3, :].reshape(len(d_R), bones, 12)).reshape(len(d_R), -1, 3, 4)
    # forward: local = blended[:, :, :3] @ position + blended[:, :, 3]
    return (d_blended[:, :, :, :3] @ f.positions[:, :, None])[..., 0] + d_blended[:, :, :, 3]


@dataclass(frozen=True)
class HandJacobian:
    """The Jacobian's blocks as computed: theta's, and the us block packed as ADBench packs it."""

    residuals: np.ndarray  # (3N,)
    theta: np.ndarray  # d residuals / d theta                          (3N, 26)
    packed_us: np.ndarray | None  # row r: d residual r / d us[r // 3]  (3N, 2), complicated only

    def blocks(self) -> Params:
        """The Jacobian kind's blocks: ``out.shape + param.shape``, the us block block-diagonal ``(3N, N, 2)``."""
        if self.packed_us is None:
            return {"theta": self.theta}
        rows = np.arange(len(self.packed_us))
        us = np.zeros((len(rows), len(rows) // 3, 2))
        us[rows, rows // 3] = self.packed_us
        return {"theta": self.theta, "us": us}

    def transposed_times(self, cotangent: np.ndarray) -> Params:
        """``J^T v`` per parameter, without the dense us block: each point's rows meet only its own us."""
        found = {"theta": cotangent @ self.theta}
        if self.packed_us is not None:
            found["us"] = (cotangent[:, None] * self.packed_us).reshape(-1, 3, 2).sum(axis=1)
        return found


def jacobian_with(params: Params, X: Any, Y: Any, partials: Partials) -> HandJacobian:
    """The Jacobian of the residuals, with the Euler-angle partials given (the right ones or a planted slip)."""
    f = hand_forward(params, X, Y, np)
    R = f.rotation.R
    # forward: world = local @ R^T + t
    d_world = np.concatenate([
        f.local[None] @ np.swapaxes(rodrigues_derivatives(f.rotation), 1, 2),   # theta[0:3]: R moves
        np.broadcast_to(np.eye(3)[:, None, :], (3,) + f.local.shape),          # theta[3:6]: t moves
        finger_tangents(f, X, partials) @ R.T,                                   # theta[6:]: local moves
    ])                                                                           # (26, M, 3)
    packed_us = None
    if "us" in params:
        corners = d_world.reshape(HAND_THETA, -1, 3, 3)
        u0, u1 = params["us"][:, 0:1], params["us"][:, 1:2]
        world = f.world.reshape(-1, 3, 3)
        # forward: model = u0 a + u1 b + (1 - u0 - u1) c
        d_model = u0 * corners[:, :, 0] + u1 * corners[:, :, 1] + (1 - u0 - u1) * corners[:, :, 2]
        d_model_d_us = np.stack([world[:, 0] - world[:, 2], world[:, 1] - world[:, 2]], axis=-1)   # (N, 3, 2)
        # forward: residuals = (observed - model).reshape(-1)
        packed_us = -d_model_d_us.reshape(-1, 2)
    else:
        d_model = d_world
    # forward: residuals = (observed - model).reshape(-1)
    theta_block = -np.moveaxis(d_model, 0, -1).reshape(-1, HAND_THETA)
    return HandJacobian(f.residuals, theta_block, packed_us)


def hand_jacobian(params: Params, X: Any, Y: Any = None) -> Params:
    """``d residuals / d theta`` ``(3N, 26)`` and, complicated, ``d residuals / d us`` ``(3N, N, 2)``."""
    return jacobian_with(params, X, Y, euler_partials).blocks()


def hand_gradient(params: Params, X: Any, Y: Any) -> Params:
    """The gradient of ``0.5 |r|^2``: ``J^T r`` per parameter."""
    jacobian = jacobian_with(params, X, Y, euler_partials)
    return jacobian.transposed_times(jacobian.residuals)


def euler_partials_composed_backwards(factors: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """The planted slip: the partials of ``Rx Ry Rz``, the textbook order, instead of ADBench's ``Rz Ry Rx``."""
    Rx, Ry, Rz = factors
    return rotation_derivative(Rx, 0) @ Ry @ Rz, Rx @ Ry @ rotation_derivative(Rz, 2), \
        Rx @ rotation_derivative(Ry, 1) @ Rz


def buggy_jacobian(params: Params, X: Any, Y: Any = None) -> Params:
    return jacobian_with(params, X, Y, euler_partials_composed_backwards).blocks()


def buggy_gradient(params: Params, X: Any, Y: Any) -> Params:
    jacobian = jacobian_with(params, X, Y, euler_partials_composed_backwards)
    return jacobian.transposed_times(jacobian.residuals)


def adbench_jacobian(jacobian: Params) -> np.ndarray:
    """A Jacobian in ADBench's dense layout: ``(3N, 26)`` simple; complicated ``(3N, 28)``, the us block packed.

    ADBench returns the complicated variant's u block, block-diagonal (3 x 2 per
    point), packed into 2 columns before theta's: row r holds
    ``d r / d us[r // 3]``.
    """
    theta = np.asarray(jacobian["theta"])
    if "us" not in jacobian:
        return theta
    us = np.asarray(jacobian["us"])
    rows = np.arange(us.shape[0])
    return np.concatenate([us[rows, rows // 3], theta], axis=1)


# --------------------------------------------------------------------------
# Points to check at
# --------------------------------------------------------------------------


def validate_hand_point(params: Params, X: Any, Y: Any) -> None:
    """``theta (26,)``, optionally ``us (N, 2)``; X the hand model and correspondences; Y ``(N, 3)``."""
    if "theta" not in params or not set(params) <= {"theta", "us"}:
        raise InputError(f"the hand takes parameters theta (26,) and, for the complicated variant, us (N, 2); got "
                         f"{sorted(params)}. Build a point with read_adbench('hand', path) or hand_point(n).")
    if not isinstance(X, dict) or sorted(X) != sorted(HAND_DATA):
        raise InputError(f"the hand's X is a dict of the hand model's arrays and the correspondences, keys "
                         f"{', '.join(HAND_DATA)}; got {type(X).__name__}"
                         f"{' with keys ' + str(sorted(X)) if isinstance(X, dict) else ''}. Build it with "
                         "read_adbench('hand', path) or hand_point(n).")
    if params["theta"].shape != (HAND_THETA,):
        raise InputError(f"theta must be ({HAND_THETA},): global rotation, translation, four angles per finger; "
                         f"got shape {params['theta'].shape}.")
    bones = np.shape(X["parents"])[0] if np.ndim(X["parents"]) == 1 else 0
    if bones < HAND_MIN_BONES:
        raise InputError(f"the hand model must have at least {HAND_MIN_BONES} bones (parents 1-D); got "
                         f"parents of shape {np.shape(X['parents'])}.")
    parents = np.asarray(X["parents"])
    if not np.all((parents >= -1) & (parents < np.arange(bones))):
        raise InputError("the hand model's parents must come before their children (-1 for a root).")
    n = np.shape(X["correspondences"])[0] if np.ndim(X["correspondences"]) == 1 else 0
    if np.shape(Y) != (n, 3) or n < 1:
        raise InputError(f"Y holds the observed points, one (x, y, z) per correspondence: shape ({n}, 3) for "
                         f"{n} correspondence(s); got {np.shape(Y)}.")
    if "us" in params and params["us"].shape != (n, 2):
        raise InputError(f"us must be (N, 2) = ({n}, 2), one (u0, u1) per point; got shape {params['us'].shape}.")
    count = len(X["triangles"]) if "us" in params else len(X["base_positions"])
    correspondences = np.asarray(X["correspondences"])
    if not np.issubdtype(correspondences.dtype, np.integer) or correspondences.min() < 0 \
            or correspondences.max() >= count:
        raise InputError(f"the correspondences must be whole {'triangle' if 'us' in params else 'vertex'} indices "
                         f"0..{count - 1}.")


def hand_point(n: int, complicated: bool = False, seed: int = 0) -> tuple[Params, dict[str, np.ndarray], np.ndarray]:
    """A generated point on the packaged hand model: a seeded random pose, ``n`` random vertices (or triangles
    with random barycentric us inside them), and observations that are the posed points plus noise.

    ``theta`` is standard normal scaled by 0.5 (the translation too), the noise
    normal with standard deviation 0.01: residuals of the size of a fit in
    progress. Our generator, not ADBench's (whose larger inputs are not packaged).
    """
    if not is_count(n):
        raise InputError(f"hand_point needs a positive integer n (points), got {n!r}.")
    rng = np.random.default_rng(seed)
    model = packaged_hand_model()
    count = len(model["triangles"]) if complicated else len(model["base_positions"])
    X = {**model, "correspondences": rng.integers(0, count, n).astype(np.intp)}
    params: Params = {"theta": 0.5 * rng.standard_normal(HAND_THETA)}
    if complicated:
        u = rng.uniform(0.0, 1.0, (n, 2))
        outside = u.sum(axis=1) > 1
        u[outside] = 1 - u[outside]  # folded back into the triangle
        params["us"] = u
    posed = hand_forward(params, X, np.zeros((n, 3))).model_points
    return params, X, posed + 0.01 * rng.standard_normal((n, 3))


def adbench_test_point() -> tuple[Params, Any, Any]:
    """ADBench's simple hand test input (``data/hand/test.txt``: N = 2), the point of its reference values."""
    return packaged_test_input("hand")


def adbench_complicated_point() -> tuple[Params, Any, Any]:
    """ADBench's complicated hand test input (``data/hand/hand_complicated.txt``: N = 2, with us)."""
    return packaged_test_input("hand", "hand_complicated.txt")


def _generated(n: int, complicated: bool) -> Callable[[], tuple[Params, Any, Any]]:
    return lambda: hand_point(n, complicated, seed=0)


GENERATED_SIZES = (100, 1600)
"""Points N of the generated cases, from ADBench's sizes (100, 192, 200, 400, ..., 100000 in both variants).
The complicated variant has 2N more parameters, so the oracles' passes grow like N^2 there."""

CASES: dict[str, Callable[[], tuple[Params, Any, Any]]] = {
    "hand-adbench-test": adbench_test_point,
    "hand-adbench-complicated": adbench_complicated_point,
    "hand-simple-c100": _generated(100, False),
    "hand-complicated-c100": _generated(100, True),
    "hand-simple-c1600": _generated(1600, False),
}


MODEL = Model(
    name="hand",
    function=hand_residuals,
    cost=hand_cost,
    description="ADBench's hand tracking residuals (simple and complicated variants) and their least-squares cost",
    validate_point=validate_hand_point,
    gradient=hand_gradient,
    derivatives={"jacobian": hand_jacobian},
    planted_bug=PlantedBug(
        buggy_gradient,
        "the Euler-angle partials of Rx Ry Rz where ADBench composes Rz Ry Rx (the fingers' two-angle bones)",
        ("theta",),
        derivatives={"jacobian": buggy_jacobian},
    ),
    cases=CASES,
    complex_safe=True,
)
