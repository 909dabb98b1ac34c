"""JAX autograd as a gradient source: ``jax.grad`` under ``jax.jit``, in float64.

As for PyTorch, the cost is not rewritten: the model's own cost is called
with ``xp=jax.numpy`` and ``jax.grad`` differentiates it, for any model
whose cost is written against ``xp``. Data is converted leaf by leaf: float
arrays as float64, integer arrays as they are, containers walked.

float64, without touching JAX's global configuration. JAX computes in
float32 unless ``jax_enable_x64`` is on. Setting that flag globally would
change every other JAX user in the process (their arrays silently become
float64), so this source never sets it: every conversion, compilation and
call runs inside JAX's *scoped* x64 context (``jax.enable_x64(True)``; on
older JAX ``jax.experimental.enable_x64()``), which is thread-local and is
undone when the call returns. ``jax.config.jax_enable_x64`` reads the same
before and after any use of this source, and ``import gradcheck_bench`` does
not even import JAX.

A model that declares a native jax version of its function
(:attr:`~gradcheck_bench.models.Model.framework_functions`, e.g. a recurrence
written with ``lax.scan``) is differentiated through that version, as jax
runs it best; the oracles keep the xp function, the reference. A cost whose
traced program is still very long (a Python loop over a thousand steps,
unrolled) is differentiated without jit, because XLA's compile time and
memory grow faster than the program; the result's notes say so.

Compile time is kept apart from run time. The gradient is compiled ahead of
time (``jax.jit(...).lower(...).compile()``) once per input shape and cached;
the seconds spent compiling are in :attr:`JaxAutograd.compile_seconds`, and
:meth:`JaxAutograd.warm_up` compiles for a point without computing anything,
so a benchmark can time calls that are pure run time.
"""

from __future__ import annotations

import time
from typing import Any, Hashable

import numpy as np

from ..errors import InputError
from ..frameworks.jax import JAX_INSTALL_HINT, float64_leaves, jax_device, jax_function, x64_scope
from ..gradient import Gradient
from ..kinds import ALL_KINDS, Request
from ..ravel import leaves_by_path
from ..point import OUTPUT, Point
from ..source import GradientSource
from ..models import Model, Params
from .registry import SourceSpec

MAX_COMPILED_OPERATIONS = 10_000
"""A cost that traces to more operations than this is differentiated without jit (see ``_compiled_for``)."""


def _array_signature(value: Any) -> Hashable:
    return None if value is None else (value.shape, value.dtype)


def shape_signature(params: Params, X: Any, Y: Any) -> Hashable:
    """What a compiled gradient depends on: every leaf's shape and dtype, and the data's structure."""
    import jax

    if all(value is None or isinstance(value, (np.ndarray, jax.Array)) for value in (X, Y)):
        return (tuple((name, value.shape, value.dtype) for name, value in params.items()),
                _array_signature(X), _array_signature(Y))
    leaves, structure = jax.tree_util.tree_flatten((params, X, Y))
    return str(structure), tuple((np.shape(leaf), str(getattr(leaf, "dtype", type(leaf).__name__))) for leaf in leaves)


class JaxAutograd(GradientSource):
    """Gradient of ``model.cost(params, X, Y, xp=jax.numpy)`` by ``jax.jit(jax.grad(...))``."""

    name = "jax"
    model: Model

    def __init__(self, model: Model, device: str = "cpu") -> None:
        import jax
        import jax.numpy as jnp

        self._jax = jax
        self.model = model
        self.device = jax_device(device)
        self._on_default_device = self.device == jax.devices()[0]
        cost = jax_function(model)
        self._cost = lambda params, X, Y: jnp.reshape(cost(params, X, Y), ())
        self._gradient = jax.grad(self._cost)
        self._compiled: dict[Hashable, Any] = {}
        self._eager: dict[Hashable, int] = {}
        """Signatures run without compiling, with the length of the traced cost that made it so."""
        self._compile_seconds = 0.0
        self._device_name = device
        self._kinds_compiled: dict[Hashable, Any] = {}

    @property
    def compile_seconds(self) -> float | None:
        """Total seconds spent compiling so far (tracing, lowering and XLA compilation)."""
        return self._compile_seconds

    def for_model(self, model: Model) -> "JaxAutograd":
        return JaxAutograd(model, device=self._device_name)

    def settings(self) -> dict[str, str]:
        return {"device": str(self._device_name)}

    @staticmethod
    def _arguments(params: Params, X: Any, Y: Any) -> tuple[Any, Any, Any]:
        """The call's arguments on the host: every float array as float64."""
        as_float64 = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
        return as_float64, float64_leaves(X), float64_leaves(Y)

    def _placed(self, arguments: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        """The arguments on this source's device. On the default device they are passed as they are: the
        compiled gradient moves host arrays itself, in about a third of the time of a separate ``device_put``."""
        return arguments if self._on_default_device else self._jax.device_put(arguments, self.device)

    def _compiled_for(self, arguments: tuple[Any, Any, Any], signature: Hashable) -> Any:
        """The gradient for these shapes: compiled once, or run operation by operation for a long program.

        XLA's compile time grows faster than the program: a cost that unrolls a
        long Python loop (a recurrence over a thousand steps) traces to tens of
        thousands of operations and would compile for minutes, in gigabytes.
        Beyond ``MAX_COMPILED_OPERATIONS`` the gradient runs eagerly instead.
        """
        if signature not in self._compiled:
            start = time.perf_counter()
            try:
                arguments = self._jax.device_put(arguments, self.device)
                operations = len(self._jax.make_jaxpr(self._cost)(*arguments).eqns)
                if operations > MAX_COMPILED_OPERATIONS:
                    self._eager[signature] = operations
                    self._compiled[signature] = self._gradient
                else:
                    self._compiled[signature] = self._jax.jit(self._gradient).lower(*arguments).compile()
            except TypeError as error:  # e.g. a cost returning a non-scalar, or branching on traced values
                raise InputError(
                    f"jax could not differentiate the cost of {self.model.name!r} ({str(error)[:300]}); the cost "
                    "must return one real number, use its xp argument throughout, and not branch in Python on "
                    "array values (use xp.where)."
                ) from error
            self._compile_seconds += time.perf_counter() - start
        return self._compiled[signature]

    def warm_up(self, params: Params, X: Any, Y: Any) -> float:
        """Compile for this point's shapes (if not yet done); return the seconds it took."""
        before = self._compile_seconds
        with x64_scope():
            arguments = self._arguments(params, X, Y)
            self._compiled_for(arguments, shape_signature(*arguments))
        return self._compile_seconds - before

    def gradient_at(self, point: Point) -> Gradient:
        params, X, Y = point.params, point.X, point.Y
        with x64_scope():
            arguments = self._arguments(params, X, Y)
            signature = shape_signature(*arguments)
            gradient = self._compiled_for(arguments, signature)
            gradients = self._jax.block_until_ready(gradient(*self._placed(arguments)))
            # JAX returns dict pytrees with sorted keys: put them back in the params' order.
            tensors = {name: np.asarray(gradients[name], dtype=np.float64) for name in params}
        operations = self._eager.get(signature)
        notes = () if operations is None else (
            f"run without jit: the cost traces to {operations:,} operations, which XLA would take minutes to "
            "compile (a long Python loop, unrolled); write the loop with jax.lax.scan to compile it (a model can "
            "declare such a version: Model(framework_functions={'jax': f}))",)
        return Gradient(tensors=tensors, notes=notes)

    def provides(self) -> frozenset[str]:
        return ALL_KINDS

    def derivative_at(self, point: Point, request: Request) -> Gradient:
        """Any kind by JAX's transformations on the model's function (``jacrev``, ``jvp``, ``vjp``, and ``jvp``
        of ``grad`` for the Hessian-vector product), so ``custom_vjp`` and ``custom_jvp`` rules are what is
        checked; jitted, in float64."""
        if request.name == "gradient":
            return self.gradient_at(point)
        jax = self._jax
        import jax.numpy as jnp

        with x64_scope():
            params, X, Y = self._placed(self._arguments(point.params, point.X, point.Y))
            probe = None if request.probe is None else {k: np.asarray(v, dtype=np.float64)
                                                        for k, v in request.probe.items()}
            single = request.output is None or request.output.single
            key = (request.name, single, shape_signature(params, X, Y))
            if key not in self._kinds_compiled:  # compiled once per kind and shapes, the time kept apart
                start = time.perf_counter()
                self._kinds_compiled[key] = jax.jit(self._transformed(request.name, single))
                jax.block_until_ready(self._kinds_compiled[key](params, X, Y, probe))
                self._compile_seconds += time.perf_counter() - start
            found = jax.block_until_ready(self._kinds_compiled[key](params, X, Y, probe))
            order = request.output.names if request.name == "jvp" and request.output is not None else point.names
            return Gradient(tensors={name: np.asarray(found[name], dtype=np.float64) for name in order})

    def _transformed(self, kind: str, single: bool) -> Any:
        """``(params, X, Y, probe) -> derivative`` for ``kind``, by JAX's own transformations."""
        jax = self._jax
        import jax.numpy as jnp

        output, scalar = jax_function(self.model, output=True), jax_function(self.model)

        def function(p: Any, X: Any, Y: Any) -> Any:
            returned = output(p, X, Y)
            return {OUTPUT: returned} if single else dict(leaves_by_path(returned))

        def cost(p: Any, X: Any, Y: Any) -> Any:
            return jnp.reshape(scalar(p, X, Y), ())

        if kind == "jacobian":
            return lambda p, X, Y, probe: jax.jacrev(lambda q: function(q, X, Y)[OUTPUT])(p)
        if kind == "jvp":
            return lambda p, X, Y, t: jax.jvp(lambda q: function(q, X, Y), (p,), (t,))[1]
        if kind == "vjp":
            return lambda p, X, Y, u: jax.vjp(lambda q: function(q, X, Y), p)[1](u)[0]
        return lambda p, X, Y, v: jax.jvp(jax.grad(lambda q: cost(q, X, Y)), (p,), (v,))[1]


def _jax_for_model(model: Model, device: str = "cpu") -> JaxAutograd:
    return JaxAutograd(model, device=device)


SOURCES = [
    SourceSpec(
        name="jax",
        factory=_jax_for_model,
        description="JAX jit(grad) on the same cost definition, float64 in a scoped x64 context",
        kind="autograd",
        requires=("jax",),
        applies_to=lambda model: model.runs_on("jax"),
        derivatives=lambda model: ALL_KINDS,
        needs="a cost written against xp (cost(params, X, Y, xp=np)), or jax parameters",
        install_hint=JAX_INSTALL_HINT,
    ),
]
