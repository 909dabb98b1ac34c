"""PyTorch autograd as a gradient source, for any model whose cost is written against ``xp``.

The cost is not rewritten for PyTorch: the model's own cost is called with
``xp`` set to torch's Array API namespace (``array_api_compat.torch``: torch
itself where torch follows the standard, and standard behaviour where it does
not, e.g. ``xp.max(a, axis=0)`` returns values as NumPy's does) on float64
tensors, and ``torch.autograd.grad`` differentiates it. So a model exists once and this file only supplies the namespace, the
tensors and the device. Data is converted leaf by leaf (dicts, lists and
tuples walked): float arrays become float64 tensors, integer arrays keep
their dtype (token ids still index), anything else passes as it is.

Tensors are built as float64 explicitly; the process-wide default dtype
(``torch.set_default_dtype``) is never touched. ``torch`` is imported only
when a source is built, so ``import gradcheck_bench`` works without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..gradient import Gradient
from ..point import Point
from ..source import GradientSource
from ..frameworks.torch import TORCH_INSTALL_HINT, limited_threads, to_torch, torch_device, torch_namespace
from ..models import Model, Params, cost_with_xp
from ..validation import is_count
from .registry import SourceSpec

class TorchAutograd(GradientSource):
    """Gradient of ``model.cost(params, X, Y, xp=<torch's Array API namespace>)`` by ``torch.autograd``, in float64.

    A model whose cost is native to torch (a check of torch tensors, a cost without ``xp``) gets its
    parameters in their own dtypes, as the caller's module expects them.
    """

    name = "torch"

    def __init__(self, model: Model, device: str = "cpu", threads: int | None = None) -> None:
        import torch

        if threads is not None and not is_count(threads):
            raise InputError(f"threads must be a positive integer or None (torch's own setting), got {threads!r}.")
        self._torch = torch
        self._xp = torch_namespace()
        self.model = model
        self.device = torch_device(device)
        self.threads = None if threads is None else int(threads)

    def _tensor(self, value: Any, requires_grad: bool = False) -> Any:
        keep = self.model.native_framework == "torch"
        tensor = self._torch.tensor(np.asarray(value), dtype=None if keep else self._torch.float64, device=self.device)
        return tensor.requires_grad_(requires_grad)

    def gradient_at(self, point: Point) -> Gradient:
        with limited_threads(self._torch, self.threads):
            return Gradient(tensors=self._gradient(point.params, point.X, point.Y))

    def for_model(self, model: Model) -> "TorchAutograd":
        return TorchAutograd(model, device=str(self.device), threads=self.threads)

    def settings(self) -> dict[str, str]:
        return {"device": str(self.device), "threads": str(self.threads)}

    def _gradient(self, params: Params, X: Any, Y: Any) -> Params:
        leaves = {name: self._tensor(value, requires_grad=True) for name, value in params.items()}
        cost = cost_with_xp(self.model, leaves, to_torch(X, self.device), to_torch(Y, self.device), self._xp, "torch")
        if not isinstance(cost, self._torch.Tensor) or not cost.requires_grad:
            raise InputError(
                f"the cost of {self.model.name!r} returned {type(cost).__name__} under xp=torch, not a tensor "
                "that depends on the parameters; write it with the xp functions (xp.exp, xp.sum, ...) and "
                "return the result without .item() or float()."
            )
        if cost.numel() != 1:
            raise InputError(
                f"the {self.model.name} cost returned a tensor of shape {tuple(cost.shape)}; "
                "torch.autograd needs a scalar cost: reduce it inside the cost (e.g. .mean())."
            )
        gradients = self._torch.autograd.grad(cost.reshape(()), list(leaves.values()), allow_unused=True)
        return {
            name: np.zeros(np.shape(params[name])) if gradient is None
            else gradient.detach().cpu().numpy().astype(np.float64, copy=False)
            for name, gradient, in zip(leaves, gradients)
        }


def _torch_for_model(model: Model, device: str = "cpu", threads: int | None = None) -> TorchAutograd:
    return TorchAutograd(model, device=device, threads=threads)


SOURCES = [
    SourceSpec(
        name="torch",
        factory=_torch_for_model,
        description="PyTorch autograd on the same cost definition, float64 (device= option, CPU by default)",
        kind="autograd",
        requires=("torch", "array_api_compat"),
        applies_to=lambda model: model.runs_on("torch"),
        needs="a cost written against xp (cost(params, X, Y, xp=np)), or torch parameters",
        install_hint=TORCH_INSTALL_HINT,
    ),
]
