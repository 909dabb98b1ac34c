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

A cost whose traced program is very long (a Python loop over a thousand
steps, unrolled) is differentiated without jit, because XLA's compile time
and memory grow faster than the program; the result's notes say so.

Compile time is kept apart from run time. The gradient is compiled ahead of
time (``jax.jit(...).lower(...).compile()``) once per input shape and cached;
the seconds spent compiling are in :attr:`JaxAutograd.compile_seconds`, and
:meth:`JaxAutograd.warm_up` compiles for a point without computing anything,
so a benchmark can time calls that are pure run time.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any, Hashable

import numpy as np

from ..errors import InputError
from ..gradient import Gradient
from ..models import Model, Params, cost_with_xp
from .registry import SourceSpec

JAX_INSTALL_HINT = 'pip install "gradcheck-bench[jax]"'

MAX_COMPILED_OPERATIONS = 10_000
"""A cost that traces to more operations than this is differentiated without jit (see ``_compiled_for``)."""


def x64_scope() -> AbstractContextManager:
    """A context in which JAX uses float64; the global ``jax_enable_x64`` flag is left alone."""
    import jax

    scoped_flag = getattr(jax, "enable_x64", None)
    if scoped_flag is not None:
        return scoped_flag(True)
    from jax.experimental import enable_x64  # JAX releases before the flag moved to jax.*

    return enable_x64()


def jax_device(device: str = "cpu") -> Any:
    """The JAX device named ``device`` (``cpu``, ``cuda``/``gpu``, ``tpu``, optionally ``:index``).

    Raises :class:`InputError` naming what is available when this machine has
    no such device.
    """
    import jax

    platform, _, index_text = str(device).partition(":")
    if not index_text.isdigit() and index_text:
        raise InputError(f"device={device!r} is not a device name; use 'cpu', 'cuda' or 'cuda:0'.")
    try:
        devices = jax.devices(platform)
    except RuntimeError:
        available = sorted({d.platform for d in jax.devices()})
        raise InputError(
            f"device={device!r} was asked for, but JAX has no {platform!r} device here "
            f"(available: {', '.join(available)}); use device='cpu' or install a JAX build "
            "for that accelerator."
        ) from None
    index = int(index_text) if index_text else 0
    if index >= len(devices):
        raise InputError(
            f"device={device!r} was asked for, but JAX sees only {len(devices)} {platform} device(s)."
        )
    return devices[index]


def to_jax(value: Any) -> Any:
    """NumPy leaves as JAX arrays (floats as float64, call inside :func:`x64_scope`); containers walked."""
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf) if isinstance(leaf, np.ndarray) else leaf,
                                  float64_leaves(value))


def float64_leaves(value: Any) -> Any:
    """NumPy float leaves as float64 (others as they are), containers walked: ready for one ``device_put``."""
    if isinstance(value, np.ndarray):
        return value.astype(np.float64, copy=False) if np.issubdtype(value.dtype, np.floating) else value
    if isinstance(value, dict):
        return {key: float64_leaves(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(float64_leaves(item) for item in value)
    return value


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


class JaxAutograd:
    """Gradient of ``model.cost(params, X, Y, xp=jax.numpy)`` by ``jax.jit(jax.grad(...))``."""

    name = "jax"

    def __init__(self, model: Model, device: str = "cpu") -> None:
        import jax
        import jax.numpy as jnp

        self._jax = jax
        self.model = model
        self.device = jax_device(device)
        self._on_default_device = self.device == jax.devices()[0]
        self._cost = lambda params, X, Y: jnp.reshape(cost_with_xp(model, params, X, Y, jnp, "jax.numpy"), ())
        self._gradient = jax.grad(self._cost)
        self._compiled: dict[Hashable, Any] = {}
        self._eager: dict[Hashable, int] = {}
        """Signatures run without compiling, with the length of the traced cost that made it so."""
        self.compile_seconds = 0.0
        """Total seconds spent compiling so far (tracing, lowering and XLA compilation)."""

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
            self.compile_seconds += time.perf_counter() - start
        return self._compiled[signature]

    def warm_up(self, params: Params, X: Any, Y: Any) -> float:
        """Compile for this point's shapes (if not yet done); return the seconds it took."""
        before = self.compile_seconds
        with x64_scope():
            arguments = self._arguments(params, X, Y)
            self._compiled_for(arguments, shape_signature(*arguments))
        return self.compile_seconds - before

    def __call__(self, params: Params, X: Any, Y: Any) -> Gradient:
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
            "compile (a long Python loop, unrolled); write the loop with jax.lax.scan to compile it",)
        return Gradient(tensors=tensors, notes=notes)


def _jax_for_model(model: Model, device: str = "cpu") -> JaxAutograd:
    return JaxAutograd(model, device=device)


SOURCES = [
    SourceSpec(
        name="jax",
        factory=_jax_for_model,
        description="JAX jit(grad) on the same cost definition, float64 in a scoped x64 context",
        kind="autograd",
        requires=("jax",),
        applies_to=lambda model: model.takes_xp,
        needs="a cost written against xp (cost(params, X, Y, xp=np))",
        install_hint=JAX_INSTALL_HINT,
    ),
]
