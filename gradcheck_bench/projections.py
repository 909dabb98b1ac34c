"""The cheap mode: a derivative checked through a few random projections ``u^T D v``.

As torch's ``fast_mode`` and jax's ``check_grads`` do, the candidate's derivative
is projected onto random directions and compared with the reference's
directional derivatives along the same directions, which an oracle gets in a
few forward passes instead of 2n:

==============  ===============================  ==========================================
kind            candidate's projection            reference's (a JVP along ``v_j``)
==============  ===============================  ==========================================
gradient        ``g . v_j``                        ``dJ(theta; v_j)``
jacobian        ``u_j . (J v_j)``                  ``u_j . J v_j``
vjp             ``(u^T J) . v_j``                  ``u . J v_j``
hvp             ``(H v) . w_j``                    ``d(grad J . v)(theta; w_j)``
==============  ===============================  ==========================================

A JVP is already one projection, so it has no cheaper mode. The projections are
judged by the one judge on their values; where one fails the check falls back to
the full derivative and its localisation. Since no error bar enters that verdict,
the reference's directional derivatives are asked for without one
(``Request.error_bars=False``): the fd oracle takes one step along each
direction, not a second step that would only size an error bar. What it can miss: a mistake whose share of
every projection stays below the threshold, e.g. a wrong entry of a tensor whose
entries are tiny next to the others' (each projection sums every entry, so a
small tensor's error is diluted by the large ones), or an error that random
directions meet with a small component only by chance.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .differences.vector import directional_model, uses_complex_step
from .gradient import Gradient
from .kinds import CHEAP_KINDS, DEFAULT_PROJECTIONS, Request, get_kind
from .point import OUTPUT, Output, Point, read_output
from .source import GradientSource



def projections(candidate: GradientSource, reference: GradientSource, point: Point, request: Request, count: int,
                seed: int) -> tuple[np.ndarray, np.ndarray, Gradient | None] | None:
    """The candidate's and the reference's projections, and the candidate's full derivative where it was
    computed on the way; None where the reference has no JVP to give them.

    A Jacobian's projections come from the candidate's own VJPs where it gives them (one reverse pass each,
    as torch's fast_mode does), else from its full Jacobian.
    """
    if not reference.forward_only:
        return None
    jvp = get_kind("jvp")
    rng = np.random.default_rng(seed + 1_000_003)  # apart from the probe's own draw
    directions = [{name: rng.standard_normal(np.shape(value)) for name, value in point.params.items()}
                  for _ in range(count)]
    mine, theirs = np.empty(count), np.empty(count)
    full: Gradient | None
    if request.name == "hvp":
        assert request.probe is not None
        if reference.model is None or not uses_complex_step(reference.model):
            return None  # the exact directional derivative is what makes the projection cheap and accurate
        derived = directional_model(reference.model, request.probe, 0.0)
        scalar = read_output(np.float64(0.0), derived.name)
        source = reference.for_model(derived)
        if "jvp" not in source.provides():
            return None
        full = candidate.derivative_at(point, request)
        for j, w in enumerate(directions):
            mine[j] = _dot(full, w, point.names)
            theirs[j] = _scalar(source.derivative_at(_bare(point), Request(jvp, scalar, w, error_bars=False)))
        return mine, theirs, full
    if "jvp" not in reference.provides():
        return None
    output = request.output
    if request.name == "gradient":  # the directional derivative of the cost itself
        if reference.model is None:
            return None
        model = replace(reference.model, function=reference.model.cost)
        reference = reference.for_model(model)
        output = read_output(np.float64(point.cost if point.cost is not None else 0.0), model.name)
    if output is None:
        return None
    weights = [_weights(output, rng) for _ in range(count)] if request.name == "jacobian" else None
    by_vjp = request.name == "jacobian" and "vjp" in candidate.provides()
    full = None if by_vjp else candidate.derivative_at(point, request)
    for j, v in enumerate(directions):
        moved = reference.derivative_at(point, Request(jvp, output, v, error_bars=False))
        if request.name == "gradient":
            assert full is not None
            mine[j], theirs[j] = _dot(full, v, point.names), _scalar(moved)
        elif request.name == "vjp":
            assert request.probe is not None and full is not None
            mine[j] = _dot(full, v, point.names)
            theirs[j] = _dot(moved, request.probe, output.names)
        else:
            assert weights is not None
            if by_vjp:
                pulled = candidate.derivative_at(point, Request(get_kind("vjp"), output, weights[j]))
                mine[j] = _dot(pulled, v, point.names)
            else:
                assert full is not None
                along = sum(np.tensordot(full[name], v[name], axes=np.ndim(v[name])) for name in point.names)
                mine[j] = float(np.sum(along * weights[j][OUTPUT]))
            theirs[j] = _dot(moved, weights[j], output.names)
    return mine, theirs, full


def _dot(values: Any, weights: dict[str, np.ndarray], names: list[str]) -> float:
    return float(sum(np.sum(np.asarray(values[name], dtype=np.float64) * weights[name]) for name in names))


def _scalar(gradient: Gradient) -> float:
    return float(np.sum([np.sum(value) for value in gradient.tensors.values()]))


def _weights(output: Output, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: rng.standard_normal(np.shape(value)) for name, value in output.values.items()}


def _bare(point: Point) -> Point:
    return replace(point, cost=None, cost_model=None)


__all__ = ["CHEAP_KINDS", "DEFAULT_PROJECTIONS", "projections"]
