"""PyTorch's compiler as a gradient source: the model's cost under ``torch.compile``, differentiated by autograd.

The function compiled is the one the ``torch`` source differentiates eagerly:
the model's native torch version where it declares one
(:attr:`~gradcheck_bench.models.Model.framework_functions`), else its xp
cost on torch's Array API namespace, on float64 tensors. ``torch.compile``
(TorchDynamo capturing the whole function as one graph, ``fullgraph=True``,
and Inductor generating its kernels) compiles the forward pass, and
AOTAutograd the backward pass that ``torch.autograd.grad`` runs through it.
So a cell of this source times what compiled PyTorch gives, next to eager
``torch`` and jitted ``jax``.

Compile time is kept apart from run time: the first call at new shapes
compiles the forward and the backward pass while it runs them, then runs
them once more, compiled; what the first run took beyond the second is the
compile time (:attr:`TorchCompiled.compile_seconds`). Later calls at the same
shapes are steady state. One compile thread: no pool of compile workers is
started in each process (``compare`` measures in forked workers).

Where it cannot compile, it says why, as a :class:`~gradcheck_bench.errors.SourceError`:

* on the CPU, Inductor writes C++ and needs a C++ compiler at run time: a
  machine without one has the source unavailable (the spec's ``missing``);
* a cost that calls more than ``MAX_COMPILED_OPERATIONS`` torch operations
  (a Python loop over a thousand steps, which Dynamo unrolls into one graph
  that long, and Inductor's compile time grows with the graph) is refused
  before compiling, counted on one eager pass;
* anything Dynamo or Inductor raises (a graph break under ``fullgraph``, a
  failed C++ build) is reported with its type and message.
"""

from __future__ import annotations

import shutil
import time
import types
from typing import Any, Hashable

import numpy as np

from ..errors import GradCheckError, InputError, NotApplicable, SourceError
from ..frameworks.torch import TORCH_INSTALL_HINT, limited_threads, to_torch, torch_device, torch_function
from ..gradient import Gradient
from ..models import Model, Params
from ..point import Point
from ..source import GradientSource
from ..validation import is_count
from .registry import SourceSpec

MAX_COMPILED_OPERATIONS = 10_000
"""A cost that calls more torch operations than this in one pass is not compiled (Dynamo would unroll it)."""

CPP_COMPILERS = ("g++", "c++", "clang++")
"""The C++ compilers looked for on ``PATH``, besides ``$CXX``."""


def missing_cpp_compiler() -> str:
    """What this machine lacks for ``torch.compile`` on the CPU, with the fix; "" when it has a C++ compiler.

    Looked for on ``PATH`` without importing torch (listing the sources stays cheap): ``$CXX``, then the
    compilers Inductor tries.
    """
    import os

    if any(shutil.which(name) for name in (os.environ.get("CXX", ""), *CPP_COMPILERS) if name):
        return ""
    return ("torch.compile on the CPU builds C++ kernels and no C++ compiler (g++, clang++ or $CXX) is on PATH; "
            "install one (e.g. apt-get install g++) or use the eager torch source")


class _TooLong(BaseException):
    """Raised by :class:`_OperationCounter` past its limit, to stop the pass early (a BaseException, so the
    cost's own error handling, and the wrapper that names a failing cost, let it through)."""


def _count_operations(torch: Any, cost: Any, params: dict[str, Any], X: Any, Y: Any, limit: int) -> int:
    """Torch operations one eager pass of ``cost`` calls, up to ``limit + 1`` (the pass stops there)."""
    from torch.overrides import TorchFunctionMode

    class _OperationCounter(TorchFunctionMode):
        count = 0

        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            self.count += 1
            if self.count > limit:
                raise _TooLong
            return func(*args, **(kwargs or {}))

    counter = _OperationCounter()
    try:
        with torch.no_grad(), counter:
            cost(params, X, Y)
    except _TooLong:
        pass
    return counter.count


class TorchCompiled(GradientSource):
    """Gradient of the model's cost compiled by ``torch.compile`` (Inductor), by ``torch.autograd``, in float64."""

    name = "torch-compile"
    model: Model

    def __init__(self, model: Model, device: str = "cpu", threads: int | None = None) -> None:
        import torch

        if threads is not None and not is_count(threads):
            raise InputError(f"threads must be a positive integer or None (torch's own setting), got {threads!r}.")
        self._torch = torch
        self.model = model
        self.device = torch_device(device)
        self.threads = None if threads is None else int(threads)
        self._cost = torch_function(model)
        self._compiled: dict[Hashable, Any] = {}
        """One compiled cost per shape signature."""
        self._compile_seconds = 0.0

    def _compile(self) -> Any:
        """The scalar cost under ``torch.compile``, with a code object of its own.

        Dynamo keeps what it compiled on the function's code object, shared by
        every function made from the same ``def``: after a few sources (models,
        shapes) it would reach its recompile limit and silently run the rest
        eagerly. A code object per compiled function keeps each one apart.
        """
        cost = self._cost

        def scalar_cost(params: dict[str, Any], X: Any, Y: Any) -> Any:
            return cost(params, X, Y).reshape(())

        own = types.FunctionType(scalar_cost.__code__.replace(), scalar_cost.__globals__, scalar_cost.__name__,
                                 scalar_cost.__defaults__, scalar_cost.__closure__)
        return self._torch.compile(own, fullgraph=True, dynamic=False, options={"compile_threads": 1})

    @property
    def compile_seconds(self) -> float | None:
        """Seconds spent compiling so far: each new shape's first run less a compiled run of it."""
        return self._compile_seconds

    def for_model(self, model: Model) -> "TorchCompiled":
        return TorchCompiled(model, device=str(self.device), threads=self.threads)

    def settings(self) -> dict[str, str]:
        return {"device": str(self.device), "threads": str(self.threads), "backend": "inductor, fullgraph"}

    def gradient_at(self, point: Point) -> Gradient:
        if self.device.type == "cpu" and missing_cpp_compiler():
            raise SourceError(f"torch-compile cannot run here: {missing_cpp_compiler()}.")
        with limited_threads(self._torch, self.threads):
            return Gradient(tensors=self._gradient(point.params, point.X, point.Y))

    def _gradient(self, params: Params, X: Any, Y: Any) -> Params:
        torch = self._torch
        keep = self.model.native_framework == "torch"  # a torch user's cost gets its parameters' own dtypes
        leaves = {name: torch.tensor(np.asarray(value), dtype=None if keep else torch.float64,
                                     device=self.device).requires_grad_() for name, value in params.items()}
        X, Y = to_torch(X, self.device), to_torch(Y, self.device)
        signature = (tuple((name, tuple(value.shape)) for name, value in leaves.items()),
                     _data_signature(X), _data_signature(Y))
        if signature in self._compiled:
            return self._differentiated(self._compiled[signature], leaves, X, Y)
        self._refuse_a_long_program(leaves, X, Y)
        compiled_cost = self._compile()
        start = time.perf_counter()
        try:
            gradient = self._differentiated(compiled_cost, leaves, X, Y)
        except GradCheckError:
            raise
        except Exception as error:  # Dynamo's graph breaks, Inductor's failed builds: said, not raised raw
            raise SourceError(
                f"torch.compile could not compile the cost of {self.model.name!r} "
                f"({type(error).__name__}: {' '.join(str(error).split())[:400]}); use the eager torch source."
            ) from error
        compiled = time.perf_counter()
        self._differentiated(compiled_cost, leaves, X, Y)  # what the first call would have taken, compiled
        ran = time.perf_counter()
        self._compile_seconds += max((compiled - start) - (ran - compiled), 0.0)
        self._compiled[signature] = compiled_cost
        return gradient

    def _refuse_a_long_program(self, leaves: dict[str, Any], X: Any, Y: Any) -> None:
        operations = _count_operations(self._torch, self._cost, leaves, X, Y, MAX_COMPILED_OPERATIONS)
        if operations > MAX_COMPILED_OPERATIONS:
            raise NotApplicable(
                f"torch-compile does not compile the cost of {self.model.name!r}: one pass calls more than "
                f"{MAX_COMPILED_OPERATIONS:,} torch operations (a long Python loop, which torch.compile would "
                "unroll into one graph that long, too long to compile); use the eager torch source for it."
            )

    def _differentiated(self, compiled_cost: Any, leaves: dict[str, Any], X: Any, Y: Any) -> Params:
        cost = compiled_cost(leaves, X, Y)
        if not cost.requires_grad:
            raise InputError(f"the cost of {self.model.name!r} does not depend on its parameters under torch; "
                             "write it with the xp functions and return a tensor (no .item() or float()).")
        gradients = self._torch.autograd.grad(cost, list(leaves.values()), allow_unused=True)
        return {name: np.zeros(tuple(leaves[name].shape)) if gradient is None
                else gradient.detach().cpu().numpy().astype(np.float64, copy=False)
                for name, gradient in zip(leaves, gradients)}


def _data_signature(value: Any) -> Hashable:
    """The shapes and dtypes of the data's tensors (what a compiled graph is specialised on), containers walked."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return tuple(value.shape), str(value.dtype)
    if isinstance(value, dict):
        return tuple((key, _data_signature(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_data_signature(item) for item in value)
    return repr(value)


def _torch_compile_for_model(model: Model, device: str = "cpu", threads: int | None = None) -> TorchCompiled:
    return TorchCompiled(model, device=device, threads=threads)


SOURCES = [
    SourceSpec(
        name="torch-compile",
        factory=_torch_compile_for_model,
        description="torch.compile (Inductor, whole graph) of the same cost, autograd through it, float64; "
                    "compile time apart",
        kind="compiled",
        requires=("torch", "array_api_compat"),
        applies_to=lambda model: model.runs_on("torch"),
        needs="a cost written against xp (cost(params, X, Y, xp=np)), or torch parameters",
        install_hint=TORCH_INSTALL_HINT,
        missing=missing_cpp_compiler,
    ),
]
