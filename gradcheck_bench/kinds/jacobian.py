"""The Jacobian of a function of any output: ``candidate(params, X, Y)`` returns, per parameter, an array of
shape ``out.shape + param.shape`` (or the parameters' pytree with those leaves)."""

from __future__ import annotations

from typing import Any

from ..errors import SourceError
from ..gradient import Gradient
from ..native import gradient_leaf, replace_shape
from ..point import Point, flat_by_name
from . import JACOBIAN, DerivativeKind, Request


def read(point: Point, request: Request, returned: Any, source: str) -> Gradient:
    """One block per parameter, of shape ``output.shape + param.shape``."""
    assert request.output is not None
    [output] = request.output.leaves
    names = [leaf.name for leaf in point.layout.leaves]
    by_name = flat_by_name(returned, names, source, point.layout.tree)
    blocks = {}
    for leaf in point.layout.leaves:
        block = replace_shape(leaf, output.shape + leaf.shape)
        blocks[leaf.name] = gradient_leaf(block, by_name[leaf.name], source)[0]
    return Gradient(tensors=blocks)


def require_one_output(request: Request, model_name: str) -> None:
    """A Jacobian's blocks need one output array."""
    if request.output is not None and not request.output.single:
        raise SourceError(f"the function of {model_name!r} returns a pytree of outputs; the jacobian kind compares "
                          "the Jacobian of one output array: return one array, or check jvp/vjp instead.")


KIND = DerivativeKind(
    name=JACOBIAN,
    description="every output's derivative with respect to every parameter",
    draws=None,
    params_shaped=False,
    scalar_output=False,
    read=read,
    forward_passes="2n: a centered difference per coordinate, each a whole column of the Jacobian",
)
