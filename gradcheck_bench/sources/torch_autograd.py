"""PyTorch autograd as a gradient source, for any model whose cost is written against ``xp``.

The cost is not rewritten for PyTorch: the model's own cost is called with
``xp`` set to torch's Array API namespace (``array_api_compat.torch``: torch
itself where torch follows the standard, and standard behaviour where it does
not, e.g. ``xp.max(a, axis=0)`` returns values as NumPy's does) on float64
tensors, and ``torch.autograd.grad`` differentiates it. So a model exists once and this file only supplies the namespace, the
tensors and the device. Data is converted leaf by leaf (dicts, lists and
tuples walked): float arrays become float64 tensors, integer arrays keep
their dtype (token ids still index), anything else passes as it is.

A model that declares a native torch version of its function
(:attr:`~gradcheck_bench.models.Model.framework_functions`) is differentiated
through that version, as torch runs it best; the oracles keep the xp
function, the reference.

Tensors are built as float64 explicitly; the process-wide default dtype
(``torch.set_default_dtype``) is never touched. ``torch`` is imported only
when a source is built, so ``import gradcheck_bench`` works without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..gradient import Gradient
from ..kinds import ALL_KINDS, Request
from ..ravel import leaves_by_path
from ..point import OUTPUT, Point
from ..source import GradientSource
from ..frameworks.torch import TORCH_INSTALL_HINT, limited_threads, to_torch, torch_device, torch_function
from ..models import Model, Params
from ..validation import is_count
from .registry import SourceSpec

class TorchAutograd(GradientSource):
    """Gradient of ``model.cost(params, X, Y, xp=<torch's Array API namespace>)`` by ``torch.autograd``, in float64.

    A model whose cost is native to torch (a check of torch tensors, a cost without ``xp``) gets its
    parameters in their own dtypes, as the caller's module expects them.
    """

    name = "torch"
    model: Model

    def __init__(self, model: Model, device: str = "cpu", threads: int | None = None) -> None:
        import torch

        if threads is not None and not is_count(threads):
            raise InputError(f"threads must be a positive integer or None (torch's own setting), got {threads!r}.")
        self._torch = torch
        self._cost = torch_function(model)
        self._function = torch_function(model, output=True)
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

    def provides(self) -> frozenset[str]:
        return ALL_KINDS

    def derivative_at(self, point: Point, request: Request) -> Gradient:
        """Any kind, through torch's own autograd on the model's function, so a custom ``autograd.Function``
        is checked through its own ``backward`` (Jacobian, VJP) and its own ``jvp`` (forward mode)."""
        if request.name == "gradient":
            return self.gradient_at(point)
        torch = self._torch
        X, Y = to_torch(point.X, self.device), to_torch(point.Y, self.device)
        with limited_threads(torch, self.threads):
            leaves = {name: self._tensor(value, requires_grad=True) for name, value in point.params.items()}
            if request.name == "jvp":
                return Gradient(tensors=self._jvp(leaves, X, Y, request))
            if request.name == "hvp":
                return Gradient(tensors=self._hvp(leaves, X, Y, request))
            outputs = self._outputs(leaves, X, Y, request)
            if request.name == "vjp":
                cotangent = [self._tensor(request.probe[name]) for name in outputs]  # type: ignore[index]
                found = torch.autograd.grad(list(outputs.values()), list(leaves.values()), cotangent,
                                            allow_unused=True)
                return Gradient(tensors=self._arrays(leaves, found, point))
            return Gradient(tensors=self._jacobian(leaves, outputs, point))

    def _outputs(self, leaves: dict[str, Any], X: Any, Y: Any, request: Request) -> dict[str, Any]:
        """The function's output leaves by name (``output`` for one tensor)."""
        returned = self._function(leaves, X, Y)
        assert request.output is not None
        if request.output.single:
            return {OUTPUT: returned}
        return dict(leaves_by_path(returned))

    def _arrays(self, leaves: dict[str, Any], found: Any, point: Point) -> Params:
        return {name: np.zeros(np.shape(point.params[name])) if value is None
                else value.detach().cpu().numpy().astype(np.float64, copy=False)
                for name, value in zip(leaves, found)}

    def _jacobian(self, leaves: dict[str, Any], outputs: dict[str, Any], point: Point) -> Params:
        """Every row of the Jacobian by reverse mode: batched where the function allows, row by row otherwise."""
        torch = self._torch
        [output] = outputs.values()
        flat = output.reshape(-1)
        eye = torch.eye(flat.numel(), dtype=flat.dtype, device=flat.device)
        try:
            rows = torch.autograd.grad(flat, list(leaves.values()), eye, retain_graph=True, allow_unused=True,
                                       is_grads_batched=True)
        except RuntimeError:  # a custom Function without vmap support: one backward per output element
            per_row = [torch.autograd.grad(flat, list(leaves.values()), eye[i], retain_graph=True,
                                           allow_unused=True) for i in range(flat.numel())]
            rows = tuple(None if per_row[0][k] is None else torch.stack([row[k] for row in per_row])
                         for k in range(len(leaves)))
        shape = tuple(output.shape)
        return {name: (np.zeros(shape + np.shape(point.params[name])) if block is None
                       else block.detach().cpu().numpy().astype(np.float64, copy=False)
                       .reshape(shape + np.shape(point.params[name])))
                for name, block in zip(leaves, rows)}

    def _jvp(self, leaves: dict[str, Any], X: Any, Y: Any, request: Request) -> Params:
        """Forward mode with dual tensors: a custom Function's own ``jvp`` is what is checked."""
        import torch.autograd.forward_ad as forward

        assert request.probe is not None
        with forward.dual_level():
            duals = {name: forward.make_dual(value.detach(), self._tensor(request.probe[name]))
                     for name, value in leaves.items()}
            outputs = self._outputs(duals, X, Y, request)
            tangents = {name: forward.unpack_dual(value).tangent for name, value in outputs.items()}
        return {name: np.zeros(tuple(outputs[name].shape)) if tangent is None
                else tangent.detach().cpu().numpy().astype(np.float64, copy=False)
                for name, tangent in tangents.items()}

    def _hvp(self, leaves: dict[str, Any], X: Any, Y: Any, request: Request) -> Params:
        """Forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``); reverse-over-reverse where the
        function does not run under torch.func (an old-style custom Function)."""
        torch = self._torch
        assert request.probe is not None
        vector = {name: self._tensor(request.probe[name]) for name in leaves}
        plain = {name: value.detach() for name, value in leaves.items()}

        def cost(params: dict[str, Any]) -> Any:
            return self._cost(params, X, Y).reshape(())

        try:
            _, product = torch.func.jvp(torch.func.grad(cost), (plain,), (vector,))
        except RuntimeError:
            gradient = torch.autograd.grad(cost(leaves), list(leaves.values()), create_graph=True)
            directional = sum((g * vector[name]).sum() for g, name in zip(gradient, leaves))
            found = torch.autograd.grad(directional, list(leaves.values()), allow_unused=True)
            product = dict(zip(leaves, found))
        return {name: np.zeros(np.shape(plain[name])) if product[name] is None
                else product[name].detach().cpu().numpy().astype(np.float64, copy=False) for name in leaves}

    def for_model(self, model: Model) -> "TorchAutograd":
        return TorchAutograd(model, device=str(self.device), threads=self.threads)

    def settings(self) -> dict[str, str]:
        return {"device": str(self.device), "threads": str(self.threads)}

    def _gradient(self, params: Params, X: Any, Y: Any) -> Params:
        leaves = {name: self._tensor(value, requires_grad=True) for name, value in params.items()}
        cost = self._cost(leaves, to_torch(X, self.device), to_torch(Y, self.device))
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
        derivatives=lambda model: ALL_KINDS,
        needs="a cost written against xp (cost(params, X, Y, xp=np)), or torch parameters",
        install_hint=TORCH_INSTALL_HINT,
    ),
]
