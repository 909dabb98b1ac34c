"""A catalogue of planted backprop bugs, the mistakes people actually make.

Each :class:`BackpropMistake` is a wrong gradient source ``(params, X, Y) -> grads``
for the MLP, built from one correct backward pass (:class:`BackwardTrace`,
the same algebra as :func:`numpy_backprop`) with one mistake put in, and the
tensors the mistake touches (what a check should name). Bugs that mix up two
layers (transposed ``dW2``, the wrong layer's input or ``dZ``) need the two
hidden layers to have the same width, as in the study's nets ``(4, h, h, 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from ..models import Params
from ..models.mlp import layer_count, mlp_forward


@dataclass
class BackwardTrace:
    """The correct backward pass of a 3-layer MLP, kept whole so that one step can be replaced."""

    X: np.ndarray
    Y: np.ndarray
    Z: list[np.ndarray]
    A: list[np.ndarray]
    dZ: dict[int, np.ndarray]
    dA: dict[int, np.ndarray]
    m: int

    @classmethod
    def of(cls, params: Params, X: np.ndarray, Y: np.ndarray) -> "BackwardTrace":
        if layer_count(params) != 3:
            raise InputError("the planted-bug catalogue is written for 3-layer nets such as 4,16,16,1.")
        forward = mlp_forward(params, X)
        Z, A = forward.Z, forward.A
        dZ, dA = {3: A[3] - Y}, {}
        for l in (2, 1):
            dA[l] = params[f"W{l + 1}"].T @ dZ[l + 1]
            dZ[l] = dA[l] * (A[l] > 0)
        return cls(X, Y, Z, A, dZ, dA, X.shape[1])

    def weight(self, l: int, dZ: np.ndarray | None = None, A_prev: np.ndarray | None = None) -> np.ndarray:
        """``dW[l] = dZ[l] @ A[l-1].T / m``, optionally from a wrong dZ or input."""
        dZ = self.dZ[l] if dZ is None else dZ
        A_prev = self.A[l - 1] if A_prev is None else A_prev
        return dZ @ A_prev.T / self.m

    def bias(self, l: int, dZ: np.ndarray | None = None) -> np.ndarray:
        """``db[l] = sum(dZ[l], axis=1) / m``."""
        dZ = self.dZ[l] if dZ is None else dZ
        return dZ.sum(axis=1, keepdims=True) / self.m

    def gradients(self, **replaced: np.ndarray) -> Params:
        """The correct gradient, with some tensors replaced by wrong ones."""
        grads = {}
        for l in (1, 2, 3):
            grads[f"W{l}"] = self.weight(l)
            grads[f"b{l}"] = self.bias(l)
        grads.update(replaced)
        return grads


@dataclass(frozen=True)
class BackpropMistake:
    """One kind of backprop mistake: its name, what it is, the tensors it corrupts, and the buggy source.

    Not a :class:`~gradcheck_bench.models.PlantedBug` (a model's one declared wrong gradient, the ``numpy-buggy``
    source): the study's catalogue of many mistakes in the MLP's backward pass.
    """

    name: str
    description: str
    tensors: tuple[str, ...]
    corrupt: Callable[[BackwardTrace, Params], Params]
    control: bool = False
    """A change below any threshold: a check is right to pass it."""

    def __call__(self, params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
        return self.corrupt(BackwardTrace.of(params, X, Y), params)


def _layer1_from(trace: BackwardTrace, dZ1: np.ndarray) -> Params:
    return trace.gradients(W1=trace.weight(1, dZ=dZ1), b1=trace.bias(1, dZ=dZ1))


def _one_element(trace: BackwardTrace) -> Params:
    dW1 = trace.weight(1).copy()
    dW1[0, 0] += 0.5 * np.max(np.abs(dW1))
    return trace.gradients(W1=dW1)


def _one_percent_in(tensor: str) -> Callable[[BackwardTrace, Params], Params]:
    """The correct gradient with one tensor 1% too large."""
    def corrupt(trace: BackwardTrace, params: Params) -> Params:
        correct = trace.gradients()
        return {**correct, tensor: 1.01 * correct[tensor]}
    return corrupt


CATALOGUE: list[BackpropMistake] = [
    BackpropMistake("factor-2 in dW2", "dW2 has an extra factor 2", ("W2",),
                    lambda t, p: t.gradients(W2=2 * t.weight(2))),
    BackpropMistake("seed bugs", "the exercise's two: dW2 x2 and db1 x4", ("W2", "b1"),
                    lambda t, p: t.gradients(W2=2 * t.weight(2), b1=4 * t.bias(1))),
    BackpropMistake("transposed dW2", "dW2 = (dZ2 @ A1.T).T / m", ("W2",),
                    lambda t, p: t.gradients(W2=t.weight(2).T)),
    BackpropMistake("sign of dW3", "dW3 with the wrong sign", ("W3",),
                    lambda t, p: t.gradients(W3=-t.weight(3))),
    BackpropMistake("missing 1/m in db2", "db2 = sum(dZ2) without dividing by m", ("b2",),
                    lambda t, p: t.gradients(b2=t.m * t.bias(2))),
    BackpropMistake("ReLU derivative = output", "dZ1 = dA1 * A1 instead of dA1 * (A1 > 0)", ("W1", "b1"),
                    lambda t, p: _layer1_from(t, t.dA[1] * t.A[1])),
    BackpropMistake("ReLU derivative forgotten", "dZ1 = dA1 (no mask)", ("W1", "b1"),
                    lambda t, p: _layer1_from(t, t.dA[1])),
    BackpropMistake("wrong layer's input in dW2", "dW2 = dZ2 @ A2.T / m (A2 for A1)", ("W2",),
                    lambda t, p: t.gradients(W2=t.weight(2, A_prev=t.A[2]))),
    BackpropMistake("wrong layer's dZ in db2", "db2 = sum(dZ1) / m (dZ1 for dZ2)", ("b2",),
                    lambda t, p: t.gradients(b2=t.bias(2, dZ=t.dZ[1]))),
    BackpropMistake("label forgotten", "dZ3 = A3 instead of A3 - Y", ("W1", "b1", "W2", "b2", "W3", "b3"),
                    lambda t, p: BackwardTrace.of(p, t.X, np.zeros_like(t.Y)).gradients()),
    BackpropMistake("bias from one example", "db1 = dZ1[:, 0] / m (no sum over examples)", ("b1",),
                    lambda t, p: t.gradients(b1=t.dZ[1][:, :1] / t.m)),
    BackpropMistake("one corrupted element", "dW1[0, 0] off by half the largest |dW1|", ("W1",),
                    lambda t, p: _one_element(t)),
    BackpropMistake("1e-4 relative error in dW2", "dW2 x (1 + 1e-4)", ("W2",),
                    lambda t, p: t.gradients(W2=(1 + 1e-4) * t.weight(2))),
    BackpropMistake("1e-6 relative error everywhere", "every tensor x (1 + 1e-6): overall difference 5e-7",
                    ("W1", "b1", "W2", "b2", "W3", "b3"),
                    lambda t, p: {k: (1 + 1e-6) * v for k, v in t.gradients().items()}),
    *[BackpropMistake(f"1% in d{tensor}", f"d{tensor} x 1.01: a wrong constant, the systematic bias float32 hides",
                      (tensor,), _one_percent_in(tensor))
      for tensor in ("W1", "b1", "W2", "b2", "W3", "b3")],
    BackpropMistake("1e-8 relative error everywhere", "every tensor x (1 + 1e-8): below any threshold, a control",
                    ("W1", "b1", "W2", "b2", "W3", "b3"),
                    lambda t, p: {k: (1 + 1e-8) * v for k, v in t.gradients().items()}, control=True),
]
"""The study's bugs, at least ten kinds."""


def bug_named(name: str) -> BackpropMistake:
    """Look a planted bug up by name."""
    for bug in CATALOGUE:
        if bug.name == name:
            return bug
    raise InputError(f"no planted bug named {name!r}; known: {', '.join(b.name for b in CATALOGUE)}.")
