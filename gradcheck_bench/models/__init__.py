"""Models: a cost written once against an array namespace ``xp``, and what else it declares.

A :class:`Model` is the one thing a new workload has to provide. Its cost
``cost(params, X, Y, xp=np)`` is written against ``xp`` (NumPy, ``torch`` or
``jax.numpy``), so every gradient source and every fast finite-difference
engine runs the same definition. Everything else is optional, and each field
is a *capability* that a source or an engine asks for instead of recognising
a particular cost:

========================  ==================================================
field                     who uses it
========================  ==================================================
``validate_point``        ``check``: refuse a point that does not suit the model
``gradient``              the ``numpy`` source: a hand-written NumPy gradient
``planted_bug``           the ``numpy-buggy`` source: a known-wrong gradient
``cases``                 ``compare``, the asv suite and the CLI: named points
``point_builder``         the CLI: a point built from settings (``--sizes``, ``--x``)
``kink_pattern``          kink-aware oracles: where the cost is not smooth
``batched_cost``          the ``numpy-batched`` engine: many points per call
``layers``                the ``structured`` engine: the dense-layer algebra
``complex_safe``          ``complex-step``: the cost stays analytic
``framework_functions``   the ``torch``, ``jax`` and ``torch-compile`` sources:
                          the function written natively for that framework
========================  ==================================================

Each file of this package declares ``MODEL = Model(...)``; :func:`get_model`
finds them by scanning the package, so a new model is one new file. A user's
model is a ``Model`` built anywhere and passed wherever a model name is.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from ..errors import InputError

Params = dict[str, np.ndarray]
"""A point in parameter space: tensor name -> float array."""

PointTuple = tuple[Params, Any, Any]
"""``(params, X, Y)``: where a gradient is checked, as a case returns it (``check`` builds a
:class:`~gradcheck_bench.point.Point` from it)."""

Cost = Callable[..., Any]
"""``cost(params, X, Y, xp=np) -> scalar``."""

GradientFunction = Callable[[Params, Any, Any], Params]
"""``gradient(params, X, Y) -> {name: ndarray}``, one array per parameter."""

DEFAULT_MODEL = "mlp"
"""The model a source, an oracle or the CLI is built for when none is given: the exercise's fraud-detection network."""


@dataclass(frozen=True)
class PlantedBug:
    """A deliberately wrong gradient of a model, and the tensors a check must name for it."""

    gradient: GradientFunction | None
    description: str
    culprits: tuple[str, ...]
    derivatives: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    """The same mistake in other derivative kinds, by kind (``{"jacobian": f, "jvp": g, ...}``)."""


def _NO_COST(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:  # noqa: N802 - a sentinel, replaced on creation
    raise AssertionError("a Model's cost is set from its function when it is created")


@dataclass(frozen=True)
class PointSetting:
    """One setting of a :class:`PointBuilder`, given on the command line as ``--name TEXT``."""

    name: str
    parse: Callable[[str], Any]
    """Text -> value; raises :class:`~gradcheck_bench.errors.InputError` or ``ValueError`` saying what it expected."""
    help: str


@dataclass(frozen=True)
class PointBuilder:
    """A point built from a few settings, each optional: ``build(**given)`` uses its own defaults for the rest.

    The CLI offers each setting as a flag (``--sizes 4,5,3,1``); a flag implies the model that declares it and
    the case ``case`` (the name ``--case`` knows the built point by).
    """

    case: str
    settings: tuple[PointSetting, ...]
    build: Callable[..., PointTuple]

    def setting(self, name: str) -> PointSetting:
        return next(setting for setting in self.settings if setting.name == name)

    def takes(self, names: Iterable[str]) -> bool:
        """Whether every one of these settings is one of the builder's."""
        return set(names) <= {setting.name for setting in self.settings}


FRAMEWORKS = ("torch", "jax")
"""The frameworks a model may give a native version of its function for (:attr:`Model.framework_functions`)."""


class FrameworkFunctions(Mapping[str, Callable[..., Any]]):
    """A model's function written natively for frameworks, by framework name, and the xp function they reproduce.

    Remembering which function they implement keeps them honest when a model
    is derived from another with ``dataclasses.replace`` (wrapped for a
    caller's layout, projected onto a direction): the derived model's function
    is another one, so the native versions no longer apply and its sources
    fall back to the xp function.
    """

    def __init__(self, by_framework: Mapping[str, Callable[..., Any]], implements: Callable[..., Any]) -> None:
        self._by_framework = dict(by_framework)
        self.implements = implements

    def __getitem__(self, framework: str) -> Callable[..., Any]:
        return self._by_framework[framework]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_framework)

    def __len__(self) -> int:
        return len(self._by_framework)


@dataclass(frozen=True)
class Model:
    """A named cost and the capabilities it declares (all but ``name`` and ``cost`` optional).

    ``Model(name="mine", cost=my_cost)`` is enough for the ``torch``, ``jax``,
    ``fd``, ``richardson`` and ``complex-step`` sources, when ``my_cost`` is
    written against its ``xp`` argument.
    """

    name: str
    cost: Cost = field(default_factory=lambda: _NO_COST)
    """``cost(params, X, Y, xp=np) -> scalar``; for a function of any output, give ``function`` instead."""
    description: str = ""
    validate_point: Callable[[Params, Any, Any], float | None] | None = None
    """Raises :class:`~gradcheck_bench.errors.InputError` when ``(params, X, Y)`` does not suit the model;
    may return the cost at the point when it computed it on the way (so a check need not again)."""
    gradient: GradientFunction | None = None
    """The hand-written NumPy gradient (the ``numpy`` source)."""
    planted_bug: PlantedBug | None = None
    """A wrong gradient with a known mistake (the ``numpy-buggy`` source)."""
    cases: Mapping[str, Callable[[], PointTuple]] = field(default_factory=dict)
    """Named points, smallest first: ``cases[name]()`` returns a fresh ``(params, X, Y)``."""
    point_builder: PointBuilder | None = None
    """A point built from settings (the MLP's layer sizes, examples and seed; the 1-D model's x and theta)."""
    kink_pattern: Callable[[Params, Any, Any], tuple[float, np.ndarray]] | None = None
    """``(params, X, Y) -> (cost, pattern)``: the cost and a boolean array that changes where the
    cost's slope jumps (ReLU signs); kink-aware oracles step around a change of pattern."""
    batched_cost: Callable[[Params, Any, Any], np.ndarray] | None = None
    """NumPy costs of a batch: every parameter has a leading batch axis; returns one cost per member."""
    layers: Callable[[Params, Any, Any], Any] | None = None
    """The dense-layer layout of a point, which the ``structured`` engine reads
    (the MLP declares :class:`~gradcheck_bench.models.mlp.DenseLayers`)."""
    complex_safe: bool = True
    """Whether the cost stays analytic for complex parameters (``complex-step`` needs it)."""
    takes_xp: bool | None = None
    """Whether the cost accepts ``xp=`` (torch, jax and their fd engines need it); None: read from its signature."""
    native_framework: str | None = None
    """``"torch"`` or ``"jax"``: the framework whose arrays a cost without ``xp`` computes on (a check of torch
    or jax parameters sets it), so that framework's autograd and fd engine can run it as it is."""
    function: Callable[..., Any] = field(default_factory=lambda: _NO_COST)
    """``function(params, X, Y, xp=np)``: an array of any shape (or a pytree of arrays), for the Jacobian,
    JVP and VJP kinds; a scalar cost serves as its own function."""
    derivatives: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    """Hand-written derivatives beyond the gradient, by kind (the ``numpy`` source): ``"jacobian"``
    ``(params, X, Y)``, ``"jvp"`` ``(params, X, Y, tangent)``, ``"vjp"`` ``(params, X, Y, cotangent)``,
    ``"hvp"`` ``(params, X, Y, vector)``; see :mod:`gradcheck_bench.kinds`."""
    jacobian_sparsity: Callable[[Params, Any, Any], Mapping[str, tuple[np.ndarray, np.ndarray]]] | None = None
    """``(params, X, Y) -> {name: (output rows, flat entries)}``: where the function's Jacobian can be nonzero;
    the fd oracle then perturbs columns that share no row together (:mod:`gradcheck_bench.differences.coloring`)."""
    framework_functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    """The function written natively for a framework, by name (``{"jax": f_jax, "torch": f_torch}``):
    ``f_jax(params, X, Y)`` takes that framework's arrays and returns what ``function(params, X, Y,
    xp=<its namespace>)`` does, written the way the framework runs best (``lax.scan`` for a recurrence under
    jit). The autograd sources differentiate it; the oracles keep the xp function, the reference."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"a Model needs a non-empty name, got {self.name!r}; e.g. Model(name='mine', cost=f).")
        if self.cost is _NO_COST and self.function is _NO_COST:
            raise InputError(f"model {self.name!r} needs cost=f (a scalar cost(params, X, Y, xp=np)) or function=f "
                             "(any output, for Jacobians, JVPs and VJPs).")
        for role, given in (("cost", self.cost), ("function", self.function)):
            if not callable(given):
                raise InputError(f"model {self.name!r}: {role} must be a callable {role}(params, X, Y, xp=np), "
                                 f"got {type(given).__name__}.")
        if self.function is _NO_COST:
            object.__setattr__(self, "function", self.cost)
        if self.cost is _NO_COST:
            object.__setattr__(self, "cost", self.function)
        if self.takes_xp is None:
            object.__setattr__(self, "takes_xp", accepts_xp(self.function))
        if not isinstance(self.framework_functions, FrameworkFunctions):
            object.__setattr__(self, "framework_functions", self._bound_framework_functions())

    def _bound_framework_functions(self) -> FrameworkFunctions:
        given = self.framework_functions
        if not isinstance(given, Mapping):
            raise InputError(f"model {self.name!r}: framework_functions must be a dict framework -> function, e.g. "
                             f"{{'jax': f_jax}}; got {type(given).__name__}.")
        for framework, function in given.items():
            if framework not in FRAMEWORKS:
                raise InputError(f"model {self.name!r}: framework_functions has {framework!r}; the frameworks are "
                                 f"{', '.join(map(repr, FRAMEWORKS))}.")
            if not callable(function):
                raise InputError(f"model {self.name!r}: framework_functions[{framework!r}] must be a callable "
                                 f"f(params, X, Y) on {framework} arrays, got {type(function).__name__}.")
        return FrameworkFunctions(given, self.function)

    def native_function(self, framework: str, output: bool = False) -> Callable[..., Any] | None:
        """The function (``output=True``) or the cost written natively for ``framework``, or None.

        None when the model declares none for it, or when the model's function
        is no longer the one they reproduce (a derived model); the cost is the
        native function only when the cost is the function (a scalar model).
        """
        functions = self.framework_functions
        if not isinstance(functions, FrameworkFunctions) or framework not in functions:
            return None
        if functions.implements is not self.function or not (output or self.cost is self.function):
            return None
        return functions[framework]

    def runs_on(self, framework: str) -> bool:
        """Whether the cost can be called on ``framework``'s arrays: written against ``xp``, or native there."""
        return bool(self.takes_xp) or self.native_framework == framework

    def check_point(self, params: Params, X: Any, Y: Any) -> float | None:
        """Run the model's own point check, if it declares one; the cost at the point when it says."""
        return None if self.validate_point is None else self.validate_point(params, X, Y)


def cost_model(cost: Cost, name: str | None = None) -> Model:
    """A model with only a cost, for oracles built from a bare function (``fd(my_cost)``).

    Whether the cost can be called with ``xp=`` is read from its signature.
    """
    if isinstance(cost, Model):
        return cost
    # not `name or getattr(...)`: mypy then types getattr's default by the context str | None and lets None in
    return Model(name=name if name else getattr(cost, "__name__", "cost"), cost=cost)


def accepts_xp(function: Callable[..., Any]) -> bool:
    """Whether ``function`` declares an ``xp`` parameter (so it can run on torch or jax arrays)."""
    import inspect

    if isinstance(function, Model):
        return bool(function.takes_xp)
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "xp" in parameters


def cost_with_xp(model: Model, params: Any, X: Any, Y: Any, xp: Any, backend: str, output: bool = False) -> Any:
    """``model.cost(params, X, Y, xp=xp)`` (``output=True``: its ``function``), with an error that says what to do
    when the cost is not xp-ready."""
    try:
        if output:
            return model.function(params, X, Y, xp=xp)
        return model.cost(params, X, Y, xp=xp)
    except InputError:
        raise
    except Exception as error:
        raise InputError(
            f"the cost of {model.name!r} failed under xp={backend} ({type(error).__name__}: {str(error)[:200]}); "
            "a cost for the autograd sources must use its xp argument for every array function "
            "(xp.exp, xp.log, xp.where, ...) instead of np., and must not convert arrays to NumPy or floats."
        ) from error


_MODELS: dict[str, Model] = {}


def _scan() -> dict[str, Model]:
    if not _MODELS:
        for module_info in pkgutil.iter_modules(__path__):
            module = importlib.import_module(f"{__name__}.{module_info.name}")
            declared = getattr(module, "MODEL", None)
            if isinstance(declared, Model):
                _MODELS.setdefault(declared.name, declared)
    return _MODELS


def model_names() -> list[str]:
    """The names of the models this package declares."""
    return list(_scan())


def get_model(model: str | Model) -> Model:
    """Look a model up by name; a :class:`Model` passes through."""
    if isinstance(model, Model):
        return model
    models = _scan()
    if model not in models:
        raise InputError(
            f"unknown model {model!r}; choose one of {', '.join(models)}, or pass your own "
            "gb.Model(name=..., cost=...)."
        )
    return models[model]
