"""Forward passes that recompute only what one perturbed entry changes: a jaxpr replayed in NumPy.

Moving one entry of a weight matrix changes one row of the layer it feeds,
and a full forward pass recomputes every row. This module evaluates a cost's
program (its jaxpr, traced once with ``xp=jax.numpy``) at a batch of points,
each a single parameter entry moved, and carries for every intermediate
only the part the move can reach: a *box*, per axis either every index or a
few indices per batch member (:class:`Boxed`). Outside the box each member's
value is the unperturbed pass's, which is computed once. The values inside
the box are the perturbed pass's values, not derivatives: a reduction or a
matrix product over a partial box adds the box's change to the unperturbed
result, and everything else is the operation itself on the box.

So each member is still a forward pass of the cost (the values it gives
agree with a full pass up to rounding), at the price of what the move
touches: on a dense layer, one row instead of the whole layer. Where a rule
below cannot keep a box (a product of two perturbed operands, a primitive
with no rule here), the member's value is made whole (*dense*) and the
operation runs on all of it, batched; a primitive with no NumPy rule at all
runs through JAX itself, vmapped. Nothing is ever approximated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

@dataclass(frozen=True)
class Boxed:
    """The values of one intermediate at ``B`` perturbed points, where they may differ from the point's.

    ``idx[a]`` is None (the whole axis) or ``(B, s)`` indices; ``vals`` is
    ``(B, *box)`` with ``box[a]`` the axis length or ``s``. Two boxes share an
    axis when they hold the same index array object (one perturbation's
    indices flow through the program unchanged).
    """

    idx: tuple[Any, ...]
    vals: np.ndarray

    @property
    def members(self) -> int:
        return self.vals.shape[0]

    @property
    def dense(self) -> bool:
        return all(ix is None for ix in self.idx)


def box_shape(shape: Sequence[int], idx: Sequence[Any]) -> tuple[int, ...]:
    return tuple(size if ix is None else ix.shape[1] for size, ix in zip(shape, idx))


def grid(shape: Sequence[int], idx: Sequence[Any]) -> tuple[np.ndarray, ...]:
    """Index arrays that pick a box out of an array of ``shape`` (broadcasting to ``(B or 1, *box)``)."""
    rank, out = len(shape), []
    for axis, (size, ix) in enumerate(zip(shape, idx)):
        tail = (1,) * (rank - axis - 1)
        if ix is None or size == 1:
            length = size if ix is None else 1
            out.append(np.arange(length).reshape((1,) + (1,) * axis + (length,) + tail))
        else:
            out.append(ix.reshape((ix.shape[0],) + (1,) * axis + (ix.shape[1],) + tail))
    return tuple(out)


def gather(base: np.ndarray, idx: Sequence[Any], members: int) -> np.ndarray:
    """The unperturbed values on a box, ``(B or 1, *box)`` (size-1 axes of ``base`` broadcast)."""
    if all(ix is None for ix in idx) or base.ndim == 0:
        return base[None]
    return base[grid(base.shape, idx)]


def densify(base: np.ndarray, value: Boxed) -> np.ndarray:
    """Each member's whole value, ``(B, *shape)``."""
    if value.dense:
        return np.broadcast_to(value.vals, (value.members,) + base.shape)
    whole = np.repeat(base[None], value.members, axis=0)
    members = np.arange(value.members).reshape((-1,) + (1,) * base.ndim)
    whole[(members,) + grid(base.shape, value.idx)] = value.vals
    return whole


def on_box(base: np.ndarray, value: Boxed | None, out_shape: Sequence[int], idx: Sequence[Any]) -> np.ndarray:
    """An operand of an elementwise operation on the output's box (broadcastable to ``(B, *box)``)."""
    if base.ndim == 0:
        return base if value is None else value.vals.reshape((-1,) + (1,) * len(out_shape))
    own = [None if size == 1 and out > 1 else ix for size, out, ix in zip(base.shape, out_shape, idx)]
    if value is None:
        return gather(base, own, 1)
    if all(mine is wanted or size == 1 for mine, wanted, size in zip(value.idx, own, base.shape)):
        return value.vals
    whole = densify(base, value)
    members = np.arange(value.members).reshape((-1,) + (1,) * base.ndim)
    return whole[(members,) + grid(base.shape, own)]


def merged_box(out_shape: Sequence[int], operands: Sequence[tuple[np.ndarray, Boxed | None]]) -> tuple[Any, ...]:
    """The output box of an elementwise operation: an axis keeps its indices where every perturbed operand
    has the same ones there; it is whole where they differ or an operand broadcasts along it."""
    idx = []
    for axis, size in enumerate(out_shape):
        seen: list[Any] = []
        for base, value in operands:
            if value is None:
                continue
            if base.ndim == 0 or (base.shape[axis] == 1 and size > 1):
                seen.append(None)
            else:
                seen.append(value.idx[axis])
        first = seen[0]
        idx.append(first if all(ix is first for ix in seen) else None)
    return tuple(idx)


def members_of(values: Sequence[Boxed | None]) -> int:
    return next(value.members for value in values if value is not None)


# Elementwise primitives, in NumPy
# --------------------------------------------------------------------------


def _select_n(which: np.ndarray, *cases: np.ndarray) -> np.ndarray:
    if len(cases) == 2:
        return np.where(which, cases[1], cases[0])
    return np.choose(np.asarray(which, dtype=np.intp), np.broadcast_arrays(*cases))


def _integer_pow(x: np.ndarray, y: int) -> np.ndarray:
    return x ** y


def _convert(x: np.ndarray, new_dtype: Any, **_: Any) -> np.ndarray:
    return np.asarray(x).astype(np.dtype(new_dtype))


ELEMENTWISE: dict[str, Callable[..., np.ndarray]] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "neg": np.negative,
    "max": np.maximum, "min": np.minimum, "pow": np.power, "atan2": np.arctan2, "rem": np.fmod,
    "exp": np.exp, "exp2": np.exp2, "log": np.log, "log1p": np.log1p, "expm1": np.expm1,
    "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh, "acosh": np.arccosh,
    "atanh": np.arctanh, "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x), "cbrt": np.cbrt,
    "logistic": lambda x: np.exp(-np.logaddexp(0, -x)), "abs": np.abs, "sign": np.sign, "square": np.square,
    "floor": np.floor, "ceil": np.ceil, "is_finite": np.isfinite, "nextafter": np.nextafter,
    "gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal, "eq": np.equal,
    "ne": np.not_equal, "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor, "not": np.invert,
    "select_n": _select_n, "integer_pow": _integer_pow, "convert_element_type": _convert,
    "copy": np.copy, "copy_p": np.copy, "real": np.real, "imag": np.imag, "conj": np.conj,
    "stop_gradient": lambda x: x,
}
"""Primitives applied element by element (operands of one shape, or broadcast along size-1 axes and scalars);
``div`` is separate, since integer division truncates in JAX."""
ELEMENTWISE_PARAMS = {"integer_pow": ("y",), "convert_element_type": ("new_dtype",)}


def _div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if np.issubdtype(np.result_type(x, y), np.integer):
        return np.trunc(np.true_divide(x, y)).astype(np.result_type(x, y))
    return np.true_divide(x, y)


ELEMENTWISE["div"] = _div


def elementwise_function(name: str, params: dict[str, Any]) -> Callable[..., np.ndarray]:
    function = ELEMENTWISE[name]
    keywords = {key: params[key] for key in ELEMENTWISE_PARAMS.get(name, ())}
    return (lambda *operands: function(*operands, **keywords)) if keywords else function


def elementwise_delta(function: Callable[..., np.ndarray], bases: Sequence[np.ndarray],
                      values: Sequence[Boxed | None], out: np.ndarray) -> Boxed:
    idx = merged_box(out.shape, list(zip(bases, values)))
    operands = [on_box(base, value, out.shape, idx) for base, value in zip(bases, values)]
    shape = (members_of(values),) + box_shape(out.shape, idx)
    return Boxed(idx, np.broadcast_to(np.asarray(function(*operands), dtype=out.dtype), shape))


# Structural primitives
# --------------------------------------------------------------------------


def broadcast_in_dim_base(operand: np.ndarray, shape: Sequence[int], broadcast_dimensions: Sequence[int],
                          **_: Any) -> np.ndarray:
    expanded = [1] * len(shape)
    for axis, out_axis in enumerate(broadcast_dimensions):
        expanded[out_axis] = operand.shape[axis]
    return np.broadcast_to(np.reshape(operand, expanded), tuple(shape))


def broadcast_in_dim_delta(operand: np.ndarray, value: Boxed, shape: Sequence[int],
                           broadcast_dimensions: Sequence[int]) -> Boxed:
    idx: list[Any] = [None] * len(shape)
    expanded = [1] * len(shape)
    in_box = value.vals.shape[1:]
    for axis, out_axis in enumerate(broadcast_dimensions):
        if operand.shape[axis] == shape[out_axis]:
            idx[out_axis] = value.idx[axis]
        expanded[out_axis] = in_box[axis]
    vals = value.vals.reshape((value.members,) + tuple(expanded))
    return Boxed(tuple(idx), np.broadcast_to(vals, (value.members,) + box_shape(shape, idx)))


def reshape_delta(operand: np.ndarray, value: Boxed, new_sizes: Sequence[int]) -> Boxed:
    """A reshape that only adds or drops axes of length 1 keeps the box; any other makes the value whole."""
    kept = [axis for axis, size in enumerate(operand.shape) if size != 1]
    new_kept = [axis for axis, size in enumerate(new_sizes) if size != 1]
    if [operand.shape[a] for a in kept] == [new_sizes[a] for a in new_kept]:
        idx: list[Any] = [None] * len(new_sizes)
        for old, new in zip(kept, new_kept):
            idx[new] = value.idx[old]
        shape = (value.members,) + box_shape(new_sizes, idx)
        return Boxed(tuple(idx), value.vals.reshape(shape))
    return Boxed((None,) * len(new_sizes), densify(operand, value).reshape((value.members,) + tuple(new_sizes)))


def squeeze_delta(value: Boxed, dimensions: Sequence[int]) -> Boxed:
    dropped = set(dimensions)
    idx = tuple(ix for axis, ix in enumerate(value.idx) if axis not in dropped)
    return Boxed(idx, np.squeeze(value.vals, axis=tuple(1 + axis for axis in dimensions)))


def transpose_delta(value: Boxed, permutation: Sequence[int]) -> Boxed:
    return Boxed(tuple(value.idx[axis] for axis in permutation),
                 np.transpose(value.vals, (0,) + tuple(1 + axis for axis in permutation)))


def reduce_sum_delta(operand: np.ndarray, value: Boxed, axes: Sequence[int], out: np.ndarray) -> Boxed:
    """Over whole axes, the sum of the box's values; over partial ones, the point's sum plus the box's change."""
    summed = tuple(1 + axis for axis in axes)
    idx = tuple(ix for axis, ix in enumerate(value.idx) if axis not in axes)
    if all(value.idx[axis] is None for axis in axes):
        return Boxed(idx, np.sum(value.vals, axis=summed))
    change = np.sum(value.vals - gather(operand, value.idx, value.members), axis=summed)
    return Boxed(idx, gather(out, idx, value.members) + change)


LETTERS = "abcdefghijklmnopqrstuvwxy"


def dot_subscripts(lhs_rank: int, rhs_rank: int, contracting: tuple[Sequence[int], Sequence[int]]) -> str:
    """einsum subscripts of ``dot_general`` without batch axes, every operand and the result batched by ``z``."""
    lhs = list(LETTERS[:lhs_rank])
    rhs = list(LETTERS[lhs_rank:lhs_rank + rhs_rank])
    for left, right in zip(*contracting):
        rhs[right] = lhs[left]
    contracted = {lhs[axis] for axis in contracting[0]}
    result = [letter for letter in lhs if letter not in contracted] + \
             [letter for axis, letter in enumerate(rhs) if axis not in contracting[1]]
    return f"z{''.join(lhs)},z{''.join(rhs)}->z{''.join(result)}"


def dot_general_base(lhs: np.ndarray, rhs: np.ndarray, dimension_numbers: Any, **_: Any) -> np.ndarray:
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    if lhs_batch or rhs_batch:
        raise NotImplementedError  # runs through JAX
    return np.tensordot(lhs, rhs, axes=(tuple(lhs_contract), tuple(rhs_contract)))


def dot_general_delta(lhs: np.ndarray, rhs: np.ndarray, values: Sequence[Boxed | None], out: np.ndarray,
                      dimension_numbers: Any) -> Boxed:
    """One perturbed operand: the point's product plus the box's change times the other operand's matching
    entries (a perturbed row of a weight matrix changes one row of the product). Both perturbed: each
    member's whole product."""
    (lhs_contract, rhs_contract), _ = dimension_numbers
    subscripts = dot_subscripts(lhs.ndim, rhs.ndim, (lhs_contract, rhs_contract))
    left, right = values
    members = members_of(values)
    if left is not None and right is not None:
        product = np.einsum(subscripts, densify(lhs, left), densify(rhs, right), optimize=True)
        return Boxed((None,) * out.ndim, product)
    if left is not None:
        changed, other, contract, other_contract, first = left, rhs, lhs_contract, rhs_contract, True
        own = lhs
    else:
        assert right is not None
        changed, other, contract, other_contract, first = right, lhs, rhs_contract, lhs_contract, False
        own = rhs
    change = changed.vals - gather(own, changed.idx, members)
    other_idx: list[Any] = [None] * other.ndim
    for mine, theirs in zip(contract, other_contract):
        other_idx[theirs] = changed.idx[mine]
    matching = gather(other, other_idx, members)
    if matching.shape[0] != members:
        matching = np.broadcast_to(matching, (members,) + matching.shape[1:])
    operands = (change, matching) if first else (matching, change)
    delta = np.einsum(subscripts, *operands, optimize=True)
    free = [changed.idx[axis] for axis in range(own.ndim) if axis not in contract]
    others = [None] * (other.ndim - len(other_contract))
    idx = tuple(free + others) if first else tuple(others + free)
    return Boxed(idx, gather(out, idx, members) + delta)


# The replay
# --------------------------------------------------------------------------


def is_literal(var: Any) -> bool:
    """A constant written into the program (``1.0:f64[]``), not a variable."""
    return type(var).__name__ == "Literal"


CALLS = frozenset({"jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
                   "custom_vjp_call_jaxpr", "remat", "checkpoint"})
"""Primitives that run their program once, as a function call: replayed inline. A loop or a branch (``scan``,
``while``, ``cond``) also holds a program, but runs it many times or not at all: it runs through JAX."""


def subprogram(name: str, params: dict[str, Any]) -> tuple[Any, list[Any]] | None:
    """The program a call-like primitive (``jit``, ``custom_jvp_call``, ...) runs, with its constants."""
    if name not in CALLS:
        return None
    for value in params.values():
        if hasattr(value, "jaxpr") and hasattr(value, "consts"):  # a ClosedJaxpr
            return value.jaxpr, list(value.consts)
        if hasattr(value, "eqns") and hasattr(value, "invars"):  # a Jaxpr
            return value, []
    return None


class Replay:
    """A traced program, evaluated once at the point, then at perturbed points box by box.

    ``inputs`` are the program's input values at the point (parameters, then
    data). :meth:`perturbed` takes, for the inputs one perturbation moves,
    their :class:`Boxed` values, and gives the outputs at every member.
    """

    def __init__(self, jaxpr: Any, consts: Sequence[Any], inputs: Sequence[Any]) -> None:
        self.jaxpr = jaxpr
        self.base: dict[Any, np.ndarray] = {}
        self.nested_base: dict[int, dict[Any, np.ndarray]] = {}
        self.run_base(jaxpr, consts, inputs, self.base)

    @property
    def outputs(self) -> list[np.ndarray]:
        return [self.read(self.base, var) for var in self.jaxpr.outvars]

    @staticmethod
    def read(env: dict[Any, Any], var: Any) -> Any:
        return np.asarray(var.val) if is_literal(var) else env[var]

    def run_base(self, jaxpr: Any, consts: Sequence[Any], inputs: Sequence[Any], env: dict[Any, Any]) -> list[Any]:
        for var, value in zip(list(jaxpr.constvars) + list(jaxpr.invars), list(consts) + list(inputs)):
            env[var] = np.asarray(value)
        for eqn in jaxpr.eqns:
            operands = [self.read(env, var) for var in eqn.invars]
            outs = base_rule(eqn, operands, self)
            for var, value in zip(eqn.outvars, outs):
                env[var] = value
        return [self.read(env, var) for var in jaxpr.outvars]

    def perturbed(self, moved: dict[int, Boxed]) -> list[Boxed | None]:
        """The outputs at each member, where input ``i`` holds ``moved[i]`` (the others the point's values)."""
        changed: dict[Any, Boxed] = {self.jaxpr.invars[i]: value for i, value in moved.items()}
        return self.run_perturbed(self.jaxpr, self.base, changed)

    def run_perturbed(self, jaxpr: Any, base: dict[Any, Any], changed: dict[Any, Boxed]) -> list[Boxed | None]:
        for eqn in jaxpr.eqns:
            values = [None if is_literal(var) else changed.get(var) for var in eqn.invars]
            if all(value is None for value in values):
                continue  # this operation does not see the move: the point's values stand
            operands = [self.read(base, var) for var in eqn.invars]
            outs = [base[var] for var in eqn.outvars]
            for var, value in zip(eqn.outvars, delta_rule(eqn, operands, values, outs, self)):
                if value is not None:
                    changed[var] = value
        return [None if is_literal(var) else changed.get(var) for var in jaxpr.outvars]

    def nested(self, eqn: Any, operands: Sequence[np.ndarray], values: Sequence[Boxed | None],
               outs: Sequence[np.ndarray]) -> list[Boxed | None]:
        """A call-like primitive: its own program, replayed with the caller's boxes (its point values are
        recomputed once and kept, keyed by the program's own variables)."""
        found = subprogram(eqn.primitive.name, eqn.params)
        assert found is not None  # only called where there is one
        inner, consts = found
        if id(eqn) not in self.nested_base:
            env: dict[Any, np.ndarray] = {}
            self.run_base(inner, consts, operands, env)
            self.nested_base[id(eqn)] = env
        env = self.nested_base[id(eqn)]
        changed = {var: value for var, value in zip(inner.invars, values) if value is not None}
        return self.run_perturbed(inner, env, changed)


STRUCTURAL_BASE: dict[str, Callable[..., np.ndarray]] = {
    "broadcast_in_dim": broadcast_in_dim_base,
    "reshape": lambda x, new_sizes, **_: np.reshape(x, tuple(new_sizes)),
    "squeeze": lambda x, dimensions, **_: np.squeeze(x, axis=tuple(dimensions)),
    "transpose": lambda x, permutation, **_: np.transpose(x, tuple(permutation)),
    "reduce_sum": lambda x, axes, **_: np.sum(x, axis=tuple(axes)),
    "dot_general": dot_general_base,
}


def primitives_without_rule(jaxpr: Any) -> set[str]:
    """The primitives of a program (and of the calls it makes) that would run through JAX, not NumPy."""
    missing: set[str] = set()
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        inner = subprogram(name, eqn.params)
        if inner is not None:
            missing |= primitives_without_rule(inner[0])
        elif name not in ELEMENTWISE and name not in STRUCTURAL_BASE:
            missing.add(name)
    return missing


def base_rule(eqn: Any, operands: Sequence[np.ndarray], replay: Replay) -> list[np.ndarray]:
    """An operation at the point: NumPy where a rule is here, else the primitive itself through JAX."""
    name, params = eqn.primitive.name, eqn.params
    try:
        if name in ELEMENTWISE:
            return [np.asarray(elementwise_function(name, params)(*operands))]
        if name in STRUCTURAL_BASE and not (name == "reshape" and params.get("dimensions") is not None):
            return [np.asarray(STRUCTURAL_BASE[name](*operands, **params))]
    except NotImplementedError:
        pass
    inner = subprogram(name, params)
    if inner is not None:
        return replay.run_base(inner[0], inner[1], operands, {})
    return through_jax(eqn, list(operands), [None] * len(operands))


def delta_rule(eqn: Any, operands: Sequence[np.ndarray], values: Sequence[Boxed | None],
               outs: Sequence[np.ndarray], replay: Replay) -> list[Boxed | None]:
    name, params = eqn.primitive.name, eqn.params
    (out,) = outs if len(outs) == 1 else (None,)
    if name in ELEMENTWISE and out is not None:
        return [elementwise_delta(elementwise_function(name, params), operands, values, out)]
    value = values[0]
    if name == "broadcast_in_dim" and value is not None and len(operands) == 1:
        return [broadcast_in_dim_delta(operands[0], value, params["shape"], params["broadcast_dimensions"])]
    if name == "reshape" and value is not None and params.get("dimensions") is None and len(operands) == 1:
        return [reshape_delta(operands[0], value, params["new_sizes"])]
    if name == "squeeze" and value is not None:
        return [squeeze_delta(value, params["dimensions"])]
    if name == "transpose" and value is not None:
        return [transpose_delta(value, params["permutation"])]
    if name == "reduce_sum" and value is not None and out is not None:
        return [reduce_sum_delta(operands[0], value, params["axes"], out)]
    if name == "dot_general" and out is not None and not any(params["dimension_numbers"][1]):
        return [dot_general_delta(operands[0], operands[1], values, out, params["dimension_numbers"])]
    if subprogram(name, params) is not None:
        return replay.nested(eqn, operands, values, outs)
    return [Boxed((None,) * np.ndim(result), result[...])
            for result in through_jax(eqn, list(operands), list(values), batched=True)]


def through_jax(eqn: Any, operands: list[np.ndarray], values: list[Boxed | None],
                batched: bool = False) -> list[np.ndarray]:
    """A primitive with no NumPy rule, run by JAX (vmapped over the members where an operand is perturbed)."""
    import jax

    from ..frameworks.jax import x64_scope

    def apply(*arguments: Any) -> Any:
        result = eqn.primitive.bind(*arguments, **eqn.params)
        return result if eqn.primitive.multiple_results else [result]

    with x64_scope():
        if not batched:
            return [np.asarray(result) for result in apply(*operands)]
        arguments = [operand if value is None else densify(operand, value) for operand, value in zip(operands, values)]
        axes = [None if value is None else 0 for value in values]
        return [np.asarray(result) for result in jax.vmap(apply, in_axes=axes)(*arguments)]
