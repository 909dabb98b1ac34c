"""The point a check is taken at, built once and handed to every source and engine.

:func:`build_point` reads the caller's parameters as they are (a pytree of
NumPy, torch or jax leaves, real or complex; see :mod:`gradcheck_bench.native`)
into one :class:`Point`: private real NumPy arrays named by path, flattened
once (``flat``, ``unravel``: jax's ``ravel_pytree`` contract, dtypes kept),
the precision the check runs at, the data, and, once a model has evaluated
it, the cost there. Sources and engines read the point; none rebuilds it.

The caller's own functions (a cost, a hand-written gradient) still receive
the caller's structure and kinds of value: :class:`Layout` rebuilds them
from the check's arrays, and :func:`for_layout` wraps a model so that every
source built for it speaks the check's arrays on one side and the caller's
values on the other. For a plain flat dict of float NumPy arrays the layout
is the identity and the model is used as it is.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Callable, Mapping

import numpy as np

from .errors import InputError, SourceError
from .gradient import Gradient
from .models import Model, Params
from .native import NUMPY, SCALAR, Leaf, as_caller_kind, gradient_leaf, joined, kind_of, leaf_of
from .ravel import PointParams, Unravel, is_container, leaves_by_path, rebuild
from .validation import require_names

PARAMS_HELP = ("params must be a non-empty dict (or a list or tuple, nested as you like) of arrays: NumPy, torch "
               "or jax, real or complex, or Python numbers")


@dataclass(frozen=True)
class Layout:
    """How the caller's parameters are laid out: their tree and what each leaf was."""

    tree: Any
    leaves: tuple[Leaf, ...]

    @cached_property
    def plain(self) -> bool:
        """A flat dict of real float NumPy arrays: the check's arrays stand for the caller's directly."""
        return isinstance(self.tree, dict) and type(self.tree) is dict and all(leaf.plain for leaf in self.leaves) \
            and all("/" not in leaf.name for leaf in self.leaves) and all(isinstance(k, str) for k in self.tree)

    @property
    def has_complex(self) -> bool:
        return any(leaf.is_complex for leaf in self.leaves)

    @property
    def framework(self) -> str | None:
        """``torch`` or ``jax`` when every array leaf is that framework's (what a cost without ``xp`` runs on)."""
        kinds = {leaf.kind for leaf in self.leaves} - {SCALAR}
        return next(iter(kinds)) if len(kinds) == 1 and kinds != {NUMPY} else None

    def _plain_gradient(self, output: dict[str, Any]) -> Gradient | None:
        return _plain_arrays(self, output)

    def for_caller(self, internal: Mapping[str, Any]) -> Any:
        """The caller's tree, each leaf in the caller's kind, from the check's NumPy arrays."""
        return rebuild(self.tree, {leaf.name: as_caller_kind(leaf, internal[leaf.name]) for leaf in self.leaves})

    def joined(self, internal: Mapping[str, Any]) -> Any:
        """The caller's tree with the check's arrays (NumPy or a framework's) as leaves, complex pairs joined."""
        return rebuild(self.tree, {leaf.name: joined(leaf, internal[leaf.name]) for leaf in self.leaves})

    def gradient(self, output: Any, source: str) -> Gradient:
        """A source's output (the caller's tree, or a flat mapping by path name; any kind of leaf) as the
        check's arrays. A leaf returned below float32 carries its own rounding as an error bar."""
        if isinstance(output, Gradient):
            return output
        if self.plain and type(output) is dict and len(output) == len(self.leaves):
            fast = self._plain_gradient(output)
            if fast is not None:
                return fast
        by_name = flat_by_name(output, [leaf.name for leaf in self.leaves], source, self.tree)
        tensors: Params = {}
        error: Params = {}
        for leaf in self.leaves:
            tensors[leaf.name], returned = gradient_leaf(leaf, by_name[leaf.name], source)
            if np.finfo(returned).bits < 32:
                error[leaf.name] = float(np.finfo(returned).eps) * np.abs(tensors[leaf.name])
        if not error:
            return Gradient(tensors=tensors)
        full = {name: error.get(name, np.zeros(np.shape(value))) for name, value in tensors.items()}
        return Gradient(tensors=tensors, error=full)


def _plain_arrays(layout: Layout, output: dict[str, Any]) -> Gradient | None:
    """A flat dict of float arrays shaped like the parameters, taken as it is (None: look closer)."""
    tensors = {}
    for leaf in layout.leaves:
        value = output.get(leaf.name)
        if type(value) is not np.ndarray or value.dtype.kind != "f" or value.shape != leaf.shape \
                or np.finfo(value.dtype).bits < 32 or not np.isfinite(value).all():
            return None
        tensors[leaf.name] = value
    return Gradient(tensors=tensors)


def flat_by_name(output: Any, names: list[str], source: str, tree: Any = None) -> dict[str, Any]:
    """A gradient given as the parameters' tree or as a flat mapping by path name, as ``{name: leaf}``."""
    if isinstance(output, Mapping) and set(names) <= {str(key) for key in output} \
            and len(output) == len(names):
        return {str(key): value for key, value in output.items()}
    if not is_container(output) or isinstance(output, Mapping) != isinstance(tree, Mapping):
        raise SourceError(
            f"gradient source {source!r} returned {type(output).__name__}, not a "
            f"{'dict' if isinstance(tree, Mapping) else type(tree).__name__}; a source must return one "
            f"array per parameter, as a dict {{name: array}} or in the parameters' own structure."
        )
    found = dict(leaves_by_path(output))
    require_names(names, list(found), source)
    return found


def read_params(params: Any) -> tuple[Params, Layout]:
    """The check's private real arrays by name, and the caller's layout; nothing of the caller's is kept live."""
    if not is_container(params) or not params:
        raise InputError(f"{PARAMS_HELP}; got {type(params).__name__}.")
    if isinstance(params, Mapping) and any(not isinstance(key, str) for key in params):
        bad = next(key for key in params if not isinstance(key, str))
        raise InputError(f"parameter names must be strings, got {bad!r}; {PARAMS_HELP}.")
    if type(params) is dict and all(type(value) is np.ndarray for value in params.values()):
        flat_leaves = [leaf_of(name, value) for name, value in params.items()]  # a flat dict: no tree to walk
        return ({leaf.name: array for leaf, array in flat_leaves},
                Layout(dict.fromkeys(params), tuple(leaf for leaf, _ in flat_leaves)))
    internal: Params = {}
    leaves = []
    for name, value in leaves_by_path(params):
        if is_container(value):  # an empty dict, list or tuple inside the tree
            continue
        leaf, array = leaf_of(name, value)
        leaves.append(leaf)
        internal[name] = array
    if not leaves:
        raise InputError(f"{PARAMS_HELP}; the tree given holds no array.")
    skeleton = rebuild_structure(params)
    return internal, Layout(skeleton, tuple(leaves))


def rebuild_structure(params: Any) -> Any:
    """The caller's tree with its leaves dropped (names are enough to put values back)."""
    return rebuild(params, {name: None for name, _ in leaves_by_path(params)})


def point_precision(params: Params) -> np.dtype:
    """The least precise real dtype among the check's arrays: the precision the check runs at."""
    from .tolerances import point_dtype

    return point_dtype(params)


@dataclass(frozen=True, eq=False)
class Point:
    """Where a check is taken: the check's arrays (flattened once), the data, the layout and the cost there."""

    params: PointParams
    X: Any
    Y: Any
    layout: Layout
    precision: np.dtype
    cost: float | None = None
    """The cost at the point, once a model evaluated it (finite); see :meth:`cost_for`."""
    cost_model: Model | None = field(default=None, compare=False, repr=False)
    shared: bool = True
    """Whether several sources read this point (a check's): a function that may write to its arguments then
    gets copies. A point built for one source's direct call is its own, and is handed over as it is."""

    @property
    def flat(self) -> np.ndarray:
        """The parameters as one read-only vector (``ravel`` order)."""
        return self.params.flat

    @property
    def unravel(self) -> Unravel:
        return self.params.unravel

    @property
    def names(self) -> list[str]:
        return list(self.params)

    @property
    def size(self) -> int:
        return int(self.params.flat.size)

    def with_cost(self, cost: float | None, model: Model) -> "Point":
        """The point with the cost ``model`` has there (nothing changes for None: the cost was not evaluated)."""
        return self if cost is None else replace(self, cost=float(cost), cost_model=model)

    def cost_for(self, model: Model) -> float | None:
        """The cost at the point when it is ``model``'s (a source need not evaluate it again); else None."""
        return self.cost if self.cost_model is model else None

    def private_params(self) -> Params:
        """Copies of the check's arrays, for a function that may write to what it is given."""
        if not self.shared:
            return dict(self.params)
        return {name: value.copy() for name, value in self.params.items()}

    def private_data(self) -> tuple[Any, Any]:
        """Copies of X and Y, for a function that may write to what it is given."""
        if not self.shared:
            return self.X, self.Y
        return private_copy(self.X), private_copy(self.Y)


def build_point(params: Any, X: Any = None, Y: Any = None, shared: bool = True) -> Point:
    """Read the caller's parameters once into a :class:`Point` (the caller's values are never touched).

    ``shared=False`` for one source's direct call: its data is used as given (as that source alone would),
    and nothing is copied a second time.
    """
    internal, layout = read_params(params)
    flattened = PointParams.of(internal)
    if shared:
        X, Y = private_copy(X), private_copy(Y)  # a cost that writes to its data writes to the check's copy
    return Point(params=flattened, X=X, Y=Y, layout=layout, precision=point_precision(flattened), shared=shared)


def private_copy(data: Any) -> Any:
    """A copy a function may modify freely: arrays copied, containers deep-copied, None and scalars as they are."""
    if data is None or isinstance(data, (int, float, str)):
        return data
    if isinstance(data, np.ndarray):
        return data.copy()
    return copy.deepcopy(data)


def for_layout(model: Model, layout: Layout) -> Model:
    """``model`` speaking the check's arrays: each function given the caller's tree and kinds of value.

    The identity for a plain layout. Otherwise the cost, point check,
    hand-written gradient, planted bug and kink pattern are wrapped; the
    capabilities that assume the check's arrays are the caller's (a batched
    NumPy cost, dense-layer structure) are not offered; a cost of complex
    parameters is not complex-step-safe (its real pairs are the variables).
    """
    if layout.plain:
        return model
    user = model

    def speaking_check_arrays(function: Callable[..., Any]) -> Callable[..., Any]:
        def adapted(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
            tree = layout.for_caller(params) if xp is np and not user.takes_xp else layout.joined(params)
            return function(tree, X, Y, xp=xp) if user.takes_xp else function(tree, X, Y)
        return adapted

    cost = speaking_check_arrays(user.cost)
    function = cost if user.function is user.cost else speaking_check_arrays(user.function)

    def wrapped(function: Callable[..., Any] | None) -> Callable[..., Any] | None:
        if function is None:
            return None
        return lambda params, X, Y: function(layout.for_caller(params), X, Y)

    def gradient_of(function: Callable[..., Any] | None, label: str) -> Callable[..., Any] | None:
        if function is None:
            return None
        return lambda params, X, Y: layout.gradient(function(layout.for_caller(params), X, Y), label)

    planted = user.planted_bug
    if planted is not None:
        bug = gradient_of(planted.gradient, f"{user.name} planted bug")
        assert bug is not None
        planted = replace(planted, gradient=bug)
    return replace(
        user, cost=cost, function=function, validate_point=wrapped(user.validate_point),
        gradient=gradient_of(user.gradient, f"{user.name} gradient"), planted_bug=planted,
        kink_pattern=wrapped(user.kink_pattern), batched_cost=None, layers=None,
        complex_safe=user.complex_safe and not layout.has_complex and (user.takes_xp or layout.framework is None),
        native_framework=None if user.takes_xp else layout.framework,
    )


def leaf_kinds(params: Any) -> set[str]:
    """The kinds of leaf in a caller's tree (for messages)."""
    return {str(kind_of(value)) for _, value in leaves_by_path(params)}


@dataclass(frozen=True)
class Output:
    """A function's output at the point: its tree, its leaves (``output`` for one array, else paths), values."""

    tree: Any
    leaves: tuple[Leaf, ...]
    values: dict[str, np.ndarray]

    @property
    def names(self) -> list[str]:
        return [leaf.name for leaf in self.leaves]

    @property
    def single(self) -> bool:
        """One array, not a pytree of them."""
        return not is_container(self.tree)

    def for_caller(self, internal: Mapping[str, np.ndarray]) -> Any:
        """Output-shaped values (a cotangent) in the output's own structure and kinds."""
        leaves = {leaf.name: as_caller_kind(leaf, internal[leaf.name]) for leaf in self.leaves}
        return leaves[OUTPUT] if self.single else rebuild(self.tree, leaves)

    def read(self, value: Any, source: str, what: str = "output") -> dict[str, np.ndarray]:
        """Output-shaped values a source returned (a JVP, a given cotangent), as real arrays by output name."""
        if self.single:
            by_name = {OUTPUT: value}
        else:
            by_name = flat_by_name(value, self.names, source, self.tree)
        return {leaf.name: gradient_leaf(leaf, by_name[leaf.name], f"{source} ({what})")[0] for leaf in self.leaves}


OUTPUT = "output"
"""The name of a function's output when it is one array."""


def read_output(value: Any, function_name: str) -> Output:
    """A function's output at the point (one array or a pytree of them), real floating point."""
    if is_container(value):
        found = [(name, leaf) for name, leaf in leaves_by_path(value) if not is_container(leaf)]
        tree = rebuild_structure(value)
    else:
        found, tree = [(OUTPUT, value)], None
    leaves, values = [], {}
    for name, leaf in found:
        try:
            described, array = leaf_of(name, leaf)
        except InputError as error:
            raise InputError(f"the function of {function_name!r} returned {error}".replace("params[", "output[")) \
                from None
        if described.is_complex:
            raise InputError(f"the function of {function_name!r} returns complex values ({name}); derivative "
                             "kinds compare real outputs: return the real and imaginary parts as two arrays.")
        leaves.append(described)
        values[name] = array
    return Output(tree=tree, leaves=tuple(leaves), values=values)
