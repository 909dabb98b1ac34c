"""gradbench's kmeans eval: the k-means cost, and its Newton direction from a gradient and a Hessian-vector product.

gradbench (gradbench/gradbench, MIT, Copyright (c) 2024 Sam Estep). For
points ``P`` (n, d), given as ``X``, and centroids ``C`` (k, d), the parameters,

    cost(C) = sum_i min_j |C_j - P_i|^2,

each point charged the squared distance to its nearest centroid (the first
index wins a tie, as ``argmin`` picks). gradbench's ``dir`` is the Newton
direction ``J / diag(H)``, J the gradient and H the Hessian with respect to
``C``. H is diagonal (a centroid's cost is a sum of squares of its own
coordinates, the assignment held), so ``H 1 = diag(H)``: one Hessian-vector
product with the all-ones vector gives it, and :func:`newton_direction` takes
J and ``H 1`` from any source that gives the gradient and the ``hvp`` kind.

The cost's squared distances are expanded, ``|P_i|^2 - 2 P_i . C_j + |C_j|^2``,
so no (n, k, d) array is formed; the nearest centroid is chosen on the real
part, so the cost stays analytic for a complex step. Its slope jumps where a
point's nearest centroid changes: the assignment is declared as the model's
kink pattern.

The hand-written gradient and HVP reverse (and push forward) the forward lines
they sit beside; gradbench's own reference is the closed form
``dir_j = C_j - mean of cluster j``, which the tests keep as the independent
reference. The planted bug is the Newton pieces' classic slip: the distance's
``|C_j|^2`` differentiated as ``C_j`` instead of ``2 C_j``, in the gradient
and in the HVP, so a check must name ``centroids``.

Cases: gradbench's inputs, drawn as gradbench draws them
(:mod:`gradcheck_bench.gradbench`), at its sizes ``(k, n, d)`` = (10, 1000, 8)
and (10, 1000, 16). The other ten of its combinations (``k`` in 10, 100, 1000,
``n`` in 1000, 10000, ``d`` in 8, 16) are left out because the oracles'
gradient there (``richardson`` first) takes longer than a case may on a small
machine: k d coordinates, each pass n k d; ``docs/models.md`` has the measured
times, and :func:`kmeans_case` builds any of them.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import InputError, SourceError
from ..gradbench import Sizes, input_at
from . import Model, Params, PlantedBug

SIZES = ((10, 100, 1000), (1000, 10000), (8, 16))
"""gradbench's size lists, in its nesting order: ``k``, ``n``, ``d``."""

CASE_SIZES = ((10, 1000, 8), (10, 1000, 16))
"""The combinations kept as cases (smallest first): every source gives its gradient within about 30 s."""


def draw_kmeans(rng: np.random.RandomState, sizes: Sizes) -> tuple[np.ndarray, np.ndarray]:
    """gradbench's draw: ``points = rand(n, d)``, and the centroids are copies of the last ``k`` points."""
    k, n, d = sizes
    points = rng.rand(n, d)
    return points, points[-k:].copy()


def squared_distances(centroids: Any, points: Any, xp: Any = np) -> Any:
    """``|P_i - C_j|^2`` as an (n, k) array, expanded so no (n, k, d) array is formed."""
    return (xp.sum(points * points, axis=1)[:, None] - 2.0 * (points @ centroids.T)
            + xp.sum(centroids * centroids, axis=1)[None, :])


def nearest(distances: Any, xp: Any = np) -> Any:
    """Boolean (n, k): each point's nearest centroid (the first on a tie), chosen on the real part."""
    index = xp.argmin(xp.real(distances), axis=1)
    return index[:, None] == xp.arange(distances.shape[1])[None, :]


def kmeans_cost(params: Params, X: Any, Y: Any = None, xp: Any = np) -> Any:
    """``sum_i min_j |C_j - P_i|^2``."""
    distances = squared_distances(params["centroids"], X, xp)
    return xp.sum(xp.where(nearest(distances, xp), distances, 0.0))


def kmeans_gradient(params: Params, X: np.ndarray, Y: Any = None) -> Params:
    """``d cost / d C`` by hand."""
    C = params["centroids"]
    distances = squared_distances(C, X)
    chosen = nearest(distances).astype(float)
    # cost = sum_i sum_j chosen_ij * distances_ij, the choice held: d cost / d distances = chosen
    d_distances = chosen
    # distances_ij = |P_i|^2 - 2 P_i . C_j + |C_j|^2
    dC = -2.0 * (d_distances.T @ X) + 2.0 * d_distances.sum(axis=0)[:, None] * C
    return {"centroids": dC}


def kmeans_hvp(params: Params, X: np.ndarray, Y: Any, vector: Params) -> Params:
    """``H v`` by hand: the gradient above moved along ``v`` (the choice held)."""
    C, V = params["centroids"], vector["centroids"]
    chosen = nearest(squared_distances(C, X)).astype(float)
    # dC = -2 chosen^T P + 2 (points per centroid) * C: only the last term moves with C
    return {"centroids": 2.0 * chosen.sum(axis=0)[:, None] * V}


def buggy_gradient(params: Params, X: np.ndarray, Y: Any = None) -> Params:
    C = params["centroids"]
    chosen = nearest(squared_distances(C, X)).astype(float)
    return {"centroids": -2.0 * (chosen.T @ X) + chosen.sum(axis=0)[:, None] * C}      # |C_j|^2 -> C_j, not 2 C_j


def buggy_hvp(params: Params, X: np.ndarray, Y: Any, vector: Params) -> Params:
    chosen = nearest(squared_distances(params["centroids"], X)).astype(float)
    return {"centroids": chosen.sum(axis=0)[:, None] * vector["centroids"]}            # the same slip, moved along v


def kmeans_kinks(params: Params, X: np.ndarray, Y: Any = None) -> tuple[float, np.ndarray]:
    """The cost and the assignment: the cost's slope jumps where a point's nearest centroid changes."""
    distances = squared_distances(params["centroids"], X)
    chosen = nearest(distances)
    return float(np.sum(np.where(chosen, distances, 0.0))), chosen


def validate_kmeans_point(params: Params, X: Any, Y: Any) -> None:
    """kmeans takes ``{"centroids": (k, d)}`` and points ``X`` (n, d) with ``n >= 1``."""
    if sorted(params) != ["centroids"] or np.ndim(params["centroids"]) != 2:
        raise InputError(f"kmeans takes params {{'centroids': (k, d) array}}, got "
                         f"{ {name: np.shape(value) for name, value in params.items()} }.")
    if np.ndim(X) != 2 or np.shape(X)[0] < 1 or np.shape(X)[1] != np.shape(params["centroids"])[1]:
        raise InputError(f"kmeans takes the points as X, shape (n, d) with d = {np.shape(params['centroids'])[1]} "
                         f"like the centroids; got shape {np.shape(X)}.")


def kmeans_case(k: int, n: int, d: int) -> tuple[Params, np.ndarray, None]:
    """gradbench's input at sizes ``(k, n, d)``: the centroids as the parameters, the points as ``X``."""
    points, centroids = input_at(SIZES, draw_kmeans, (k, n, d))
    return {"centroids": centroids}, points, None


def newton_direction(source: str, params: Params, X: np.ndarray, Y: Any = None) -> np.ndarray:
    """gradbench's ``dir``, ``J / diag(H)``, from the named source's gradient and its Hessian-vector product with
    the all-ones vector (H is diagonal, so ``H 1 = diag(H)``)."""
    from ..check import gradient
    from ..sources.registry import get_spec

    given = get_spec(source).derivatives(MODEL)
    if "hvp" not in given:
        raise SourceError(f"source {source!r} gives no Hessian-vector product ({', '.join(sorted(given))} only), so "
                          "it cannot give kmeans' Newton direction J / diag(H); use a source with the hvp kind, "
                          "e.g. 'numpy', 'torch', 'jax' or 'fd'.")
    J = gradient(source, params, X, Y, model=MODEL).tensors["centroids"]
    ones = {"centroids": np.ones_like(params["centroids"])}
    diagonal = gradient(source, params, X, Y, model=MODEL, derivative="hvp", vector=ones).tensors["centroids"]
    return np.asarray(J / diagonal)


def _case(sizes: tuple[int, int, int]) -> Callable[[], tuple[Params, np.ndarray, None]]:
    return lambda: kmeans_case(*sizes)


MODEL = Model(
    name="kmeans",
    cost=kmeans_cost,
    description="gradbench's kmeans: sum of squared distances to the nearest centroid, and its Newton direction",
    validate_point=validate_kmeans_point,
    gradient=kmeans_gradient,
    derivatives={"hvp": kmeans_hvp},
    planted_bug=PlantedBug(buggy_gradient, "|C_j|^2 differentiated as C_j instead of 2 C_j, in the gradient and "
                           "the HVP", ("centroids",), derivatives={"hvp": buggy_hvp}),
    cases={f"kmeans-k{k}-n{n}-d{d}": _case((k, n, d)) for k, n, d in CASE_SIZES},
    kink_pattern=kmeans_kinks,
)
