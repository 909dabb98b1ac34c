"""The fraud-detection MLP: LINEAR -> RELU -> ... -> LINEAR -> SIGMOID, mean cross-entropy.

The MLP is LINEAR -> RELU -> ... -> LINEAR -> SIGMOID with mean binary
cross-entropy, for any layer sizes (``[4, 5, 3, 1]`` is the fraud net of the
exercise). Its forward pass is written once, against an array namespace
``xp`` (NumPy, ``torch`` or ``jax.numpy``), so every backend runs the same
definition and a new framework only has to supply its namespace.

Examples are stored column-wise: ``X`` has shape ``(n_features, m)`` and ``Y``
has shape ``(1, m)``. Parameters are a dict ``{"W1", "b1", ..., "WL", "bL"}``
with ``Wl`` of shape ``(n_l, n_{l-1})`` and ``bl`` of shape ``(n_l, 1)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable


import numpy as np

from ..counting import record_passes
from ..errors import InputError, NonFiniteLossError, SaturationWarning, SourceError
from ..validation import count_from_text, is_count, validate_data
from . import Model, Params, PlantedBug, PointBuilder, PointSetting

FRAUD_NET_SIZES: tuple[int, ...] = (4, 5, 3, 1)
SEED_LABELS = np.array([[1.0, 1.0, 0.0]])


# --------------------------------------------------------------------------
# The MLP, written once for any array namespace
# --------------------------------------------------------------------------


def relu(Z: Any, xp: Any = np) -> Any:
    """max(Z, 0), with derivative 0 at the kink (the exercise's mask ``A > 0``).

    The branch is decided on the real part, so a complex input (the
    complex-step oracle's ``theta + i h``) keeps its imaginary part on the
    active side; for real input ``Z.real`` is ``Z`` itself.
    """
    return xp.where(Z.real > 0, Z, 0.0)


def sigmoid(Z: Any, xp: Any = np) -> Any:
    """1 / (1 + exp(-Z)) written through tanh, so it never overflows."""
    return 0.5 * (1.0 + xp.tanh(0.5 * Z))


def cross_entropy_from_logits(Z: Any, Y: Any, xp: Any = np) -> Any:
    """Per-example ``-Y log(sigmoid(Z)) - (1-Y) log(1 - sigmoid(Z))``.

    That is ``Y softplus(-Z) + (1-Y) softplus(Z)``, computed as a sum of
    terms that are never negative for labels in [0, 1]:

        (1-Y) Z + log1p(exp(-Z))   where Re Z > 0,
          -Y  Z + log1p(exp(Z))    elsewhere.

    Nothing cancels, so the loss keeps full relative precision however small
    it is (``softplus(Z) - Y Z`` lost it where a confident right answer makes
    the loss tiny: at ``Z = 11`` with ``Y = 1``, 1e-5 left of two terms of 11,
    rounding noise of a finite difference far above what the cost's own size
    predicts). Each branch is exactly the loss, so autograd gets the slope
    ``sigmoid(Z) - Y`` everywhere, ``Z = 0`` included, and a complex input
    (the complex-step oracle) stays analytic (branches on the real part).
    """
    positive = Z.real > 0
    linear = xp.where(positive, (1.0 - Y) * Z, -Y * Z)
    # -|Z| by the real part's sign (analytic for complex Z), left unnamed so it is freed after exp.
    return linear + xp.log1p(xp.exp(xp.where(positive, -Z, Z)))


@dataclass(frozen=True)
class ForwardPass:
    """What one forward pass computed: ``Z[l]`` and ``A[l]`` for l = 1..L, ``A[0] = X``.

    Index 0 of ``Z`` is unused so that ``Z[l]`` reads like the maths.
    """

    Z: list[Any]
    A: list[Any]

    @property
    def logits(self) -> Any:
        return self.Z[-1]


def layer_count(params: Params) -> int:
    """L, the number of linear layers, checked against the ``W1, b1, ..., WL, bL`` naming."""
    L = len(params) // 2
    expected = parameter_names(L)
    if L == 0 or sorted(params) != sorted(expected):
        raise InputError(
            f"MLP parameters must be named {', '.join(expected) or 'W1, b1, ...'} "
            f"with no gaps; got {sorted(params)}. Build them with "
            "gradcheck_bench.models.mlp.init_params(sizes) or pass your own cost to fd()."
        )
    return L


def parameter_names(L: int) -> list[str]:
    """The exercise's order: ``W1, b1, W2, b2, ..., WL, bL``."""
    return [name for l in range(1, L + 1) for name in (f"W{l}", f"b{l}")]


def mlp_forward(params: Params, X: Any, xp: Any = np, masks: Any = None) -> ForwardPass:
    """Run the network on ``X``; hidden layers ReLU, output layer sigmoid.

    ``masks`` (optional) is inverted dropout: one array per hidden layer,
    ``masks[l - 1]`` shaped like ``A[l]`` with entries 0 or ``1 / keep_prob``
    (see :mod:`gradcheck_bench.dropout`); ``None`` is the plain network.
    """
    L = len(params) // 2
    Z: list[Any] = [None]
    A: list[Any] = [X]
    for l in range(1, L + 1):
        Z.append(params[f"W{l}"] @ A[l - 1] + params[f"b{l}"])
        A.append(relu(Z[l], xp) if l < L else sigmoid(Z[l], xp))
        if masks is not None and l < L:
            A[l] = A[l] * masks[l - 1]  # inverted dropout
    return ForwardPass(Z=Z, A=A)


def mlp_logits(params: Params, X: Any, xp: Any = np, masks: Any = None) -> Any:
    """The output layer's ``Z_L``: the forward pass as the cost needs it.

    The same layers as :func:`mlp_forward`, but each layer's arrays are dropped
    once the next is computed and the output sigmoid is never taken (the loss
    works on the logits): a batch of perturbed networks then holds one layer's
    activations at a time, not all of them.
    """
    L = len(params) // 2
    A = X
    for l in range(1, L):
        A = relu(params[f"W{l}"] @ A + params[f"b{l}"], xp)
        if masks is not None:
            A = A * masks[l - 1]  # inverted dropout
    return params[f"W{L}"] @ A + params[f"b{L}"]


def mlp_example_losses(params: Params, X: Any, Y: Any, xp: Any = np, masks: Any = None) -> Any:
    """The cross-entropy of each example, shape ``(1, m)``."""
    return cross_entropy_from_logits(mlp_logits(params, X, xp, masks), Y, xp)


def mlp_cost(params: Params, X: Any, Y: Any, xp: Any = np, masks: Any = None) -> Any:
    """J = (1/m) * sum(-Y log A_L - (1-Y) log(1 - A_L)), the exercise's cost."""
    return mlp_example_losses(params, X, Y, xp, masks).mean()


def exercise_cost(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
    """The MLP cost exactly as the exercise writes it, through ``log(A)`` and ``log(1 - A)``.

    Mathematically equal to :func:`mlp_cost`, but ``1 - A`` cancels when the
    sigmoid saturates (the seed case has ``A3 = 0.99887`` on a label-0
    example), which costs about two digits of the finite-difference estimate:
    with ``eps = 1e-7`` the exercise's ``difference ~ 1.19e-7`` comes from this
    formulation; :func:`mlp_cost` gives about 1e-9 at the same step.
    """
    A = 1.0 / (1.0 + xp.exp(-mlp_logits(params, X, xp)))
    return (-Y * xp.log(A) - (1.0 - Y) * xp.log(1.0 - A)).mean()


# --------------------------------------------------------------------------
# Points to check at
# --------------------------------------------------------------------------


def init_params(sizes: tuple[int, ...] | list[int], seed: int = 0) -> Params:
    """Fan-in scaled (He) initialisation, so wide and deep nets keep a finite loss.

    ``Wl ~ N(0, 2 / n_{l-1})`` and ``bl ~ N(0, 0.01)``, drawn from
    ``np.random.default_rng(seed)``.
    """
    sizes = validate_layer_sizes(sizes)
    rng = np.random.default_rng(seed)
    params: Params = {}
    for l in range(1, len(sizes)):
        fan_in = sizes[l - 1]
        params[f"W{l}"] = rng.standard_normal((sizes[l], fan_in)) * np.sqrt(2.0 / fan_in)
        params[f"b{l}"] = rng.standard_normal((sizes[l], 1)) * 0.1
    return params


def random_case(
    sizes: tuple[int, ...] | list[int] = FRAUD_NET_SIZES, examples: int = 3, seed: int = 0
) -> tuple[Params, np.ndarray, np.ndarray]:
    """A random point ``(params, X, Y)``: He-initialised params, normal X, 0/1 labels."""
    sizes = validate_layer_sizes(sizes)
    if not is_count(examples):
        raise InputError(f"examples must be a whole number of at least 1, got {examples!r}.")
    params = init_params(sizes, seed)
    rng = np.random.default_rng([seed, 1])
    X = rng.standard_normal((sizes[0], examples))
    Y = (rng.random((sizes[-1], examples)) < 0.5).astype(np.float64)
    return params, X, Y


def seed_case() -> tuple[Params, np.ndarray, np.ndarray]:
    """The exercise's test case, drawn exactly as SPEC.md says.

    ``np.random.seed(1)``, then ``randn`` for X (4,3), W1 (5,4), b1 (5,1),
    W2 (3,5), b2 (3,1), W3 (1,3), b3 (1,1), in that order; ``Y = [[1, 1, 0]]``.
    A private ``RandomState(1)`` draws the same numbers without touching
    NumPy's global generator.
    """
    rng = np.random.RandomState(1)
    X = rng.randn(4, 3)
    shapes = {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}
    params = {name: rng.randn(*shape) for name, shape in shapes.items()}
    return params, X, SEED_LABELS.copy()


def validate_layer_sizes(sizes: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """Layer sizes must be at least two positive integers; the output layer has one unit."""
    sizes = tuple(sizes)
    if len(sizes) < 2 or not all(is_count(s) for s in sizes):
        raise InputError(
            f"layer sizes must be two or more positive integers such as 4,5,3,1; got {sizes}."
        )
    if sizes[-1] != 1:
        raise InputError(
            f"the output layer must have 1 unit (one sigmoid probability); got sizes {sizes}."
        )
    count = net_parameter_count(sizes)
    if count > MAX_PARAMETERS:
        raise InputError(
            f"a net of sizes {_short(sizes)} has {count:,} parameters "
            f"({count * 8 / 2**30:,.1f} GiB in float64), more than the {MAX_PARAMETERS:,} this "
            "harness builds; check a smaller net, or a directional check on your own model."
        )
    if len(sizes) - 1 > MAX_LAYERS:
        raise InputError(
            f"a net of {len(sizes) - 1:,} layers is deeper than the {MAX_LAYERS:,} this harness "
            "builds (its forward pass is a Python loop over layers); use fewer layers."
        )
    return tuple(int(s) for s in sizes)


MAX_PARAMETERS = 50_000_000
"""Largest net :func:`init_params` builds: 400 MB of float64 weights."""

MAX_LAYERS = 10_000
"""Deepest net :func:`init_params` builds."""


def net_parameter_count(sizes: tuple[int, ...] | list[int]) -> int:
    """Weights and biases of an MLP with these layer sizes, before it is built (to refuse one too large to build)."""
    return sum(sizes[l] * (sizes[l - 1] + 1) for l in range(1, len(sizes)))


def _short(sizes: tuple[int, ...]) -> str:
    text = ",".join(map(str, sizes[:6]))
    return text + f",... ({len(sizes)} sizes)" if len(sizes) > 6 else text


def validate_mlp_point(params: Params, X: np.ndarray, Y: np.ndarray) -> None:
    """Check that params, X and Y fit together as one MLP; raise InputError saying how not."""
    validate_data(X, Y)
    if Y is None:
        raise InputError("the MLP needs labels Y (shape (1, m), values 0 or 1); got Y=None.")
    L = layer_count(params)
    for l in range(1, L + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        if W.ndim != 2 or b.shape != (W.shape[0], 1):
            raise InputError(
                f"W{l} must be 2-D (n_out, n_in) and b{l} shaped (n_out, 1); "
                f"got W{l} {W.shape} and b{l} {b.shape}."
            )
        n_in = X.shape[0] if l == 1 else params[f"W{l - 1}"].shape[0]
        if X.ndim == 2 and W.shape[1] != n_in:
            raise InputError(
                f"W{l} has shape {W.shape} but its layer receives {n_in} inputs: "
                f"W{l} should be ({W.shape[0]}, {n_in})."
            )
    if X.ndim != 2 or Y.ndim != 2:
        raise InputError(
            f"X and Y must be 2-D with one example per column; got X {X.shape} and Y {Y.shape}. "
            "Reshape a single example with x.reshape(-1, 1)."
        )
    if X.shape[1] != Y.shape[1]:
        raise InputError(
            f"X has {X.shape[1]} examples (columns) but Y has {Y.shape[1]}; "
            "give one label per column of X."
        )
    if Y.shape[0] != params[f"W{L}"].shape[0]:
        raise InputError(
            f"Y has {Y.shape[0]} rows but the network has {params[f'W{L}'].shape[0]} output units."
        )
    if X.shape[1] == 0:
        raise InputError(
            "the batch is empty (m = 0 columns in X and Y): the mean cost over no examples "
            "is undefined; give at least one example."
        )
    not_binary = np.argwhere((Y != 0) & (Y != 1))
    if not_binary.size:
        row, column = (int(i) for i in not_binary[0])
        raise InputError(
            f"labels must be 0 or 1, but Y[{row}, {column}] = {Y[row, column]} "
            f"({len(not_binary)} label(s) outside {{0, 1}}); binarise them, e.g. (Y > 0.5).astype(float)."
        )


def check_mlp_point(params: Params, X: np.ndarray, Y: np.ndarray) -> float:
    """:func:`validate_mlp_point`; the examples whose loss is not finite; a warning where the output saturates.

    One forward pass serves both: the per-example losses and the logits they
    come from. Returns the cost at the point (their mean, as :func:`mlp_cost`).
    """
    validate_mlp_point(params, X, Y)
    with np.errstate(over="ignore", invalid="ignore"):
        logits = mlp_logits(params, X)
        losses = np.ravel(cross_entropy_from_logits(logits, Y))
    bad = [int(i) for i in np.flatnonzero(~np.isfinite(losses))]
    if bad:
        raise NonFiniteLossError(
            f"the cost is not finite at this point: the loss of example(s) {bad[:10]} is non-finite (the "
            "activations overflow there); scale the parameters or inputs down, or pick another point."
        )
    warn_if_output_saturates(logits, Y)
    record_passes(1)
    return float(losses.mean())


def warn_if_output_saturates(logits: np.ndarray, Y: np.ndarray) -> None:
    """Warn where the sigmoid output rounds to the wrong label's 0 or 1.

    There ``log(A)`` or ``log(1 - A)`` of the textbook formula would be
    ``-inf``. The harness's cost (``softplus(Z) - Y*Z``) stays finite and
    exact, but a reader comparing with the textbook formula should know.
    """
    limit = -np.log(np.finfo(logits.dtype).eps)  # beyond this, sigmoid rounds to 0 or 1
    wrong_side = ((logits > limit) & (Y == 0)) | ((logits < -limit) & (Y == 1))
    if wrong_side.any():
        examples = [int(i) for i in np.flatnonzero(wrong_side.any(axis=0))]
        warnings.warn(
            f"the output sigmoid saturates against the label on example(s) {examples[:10]} "
            f"(|Z| > {limit:.1f}): the textbook log(A), log(1 - A) would be -inf there. "
            "This harness uses the stable form softplus(Z) - Y*Z, so the cost and the check "
            "stay finite and exact; scale the weights down if this point is not intended.",
            SaturationWarning,
            stacklevel=4,
        )


# --------------------------------------------------------------------------
# The hand-written gradient: read it bottom-up against mlp_forward
# --------------------------------------------------------------------------


def numpy_backprop(params: Params, X: np.ndarray, Y: np.ndarray, masks: Any = None) -> Params:
    """dJ/dparams of the MLP cost by reverse-mode differentiation, written by hand.

    Each reverse step sits under a comment quoting the forward line of
    :func:`mlp_forward` it reverses. ``masks``: the inverted-dropout masks of
    the forward pass being reversed (``None``: no dropout).
    """
    L = layer_count(params)
    m = X.shape[1]
    A = mlp_forward(params, X, np, masks).A  # the reverse pass needs the activations only
    grads: Params = {}

    # forward: J = mean(-Y log A[L] - (1 - Y) log(1 - A[L])),  A[L] = sigmoid(Z[L])
    dZ = A[L] - Y  # sigmoid and cross-entropy reversed together (per example; 1/m below)
    for l in range(L, 0, -1):
        # forward: Z[l] = W[l] @ A[l-1] + b[l]
        grads[f"W{l}"] = (dZ @ A[l - 1].T) / m
        grads[f"b{l}"] = dZ.sum(axis=1, keepdims=True) / m
        if l == 1:
            break
        dA = params[f"W{l}"].T @ dZ
        if masks is not None:
            # forward: A[l-1] = A[l-1] * masks[l-2]  (inverted dropout)
            dA = dA * masks[l - 2]
        # forward: A[l-1] = relu(Z[l-1])
        dZ = dA * (A[l - 1] > 0)

    return {name: grads[name] for name in params}


def numpy_hvp(params: Params, X: np.ndarray, Y: np.ndarray, vector: Params,
              forget_activation_term: bool = False) -> Params:
    """The cost's Hessian times ``vector``, written by hand: the backprop above moved along ``vector``.

    Each line is the directional derivative R(.) of a line of :func:`numpy_backprop` (Pearlmutter's
    R-operator): the forward pass is moved first, then each reverse step. ReLU's mask is constant
    almost everywhere, so R(mask) = 0. ``forget_activation_term`` drops ``dZ R(A[l-1])^T`` from
    R(dW), the term people forget (a planted bug).
    """
    L = layer_count(params)
    m = X.shape[1]
    A = mlp_forward(params, X, np).A
    RA = [np.zeros_like(X)]                         # R(A[0]) = R(X) = 0
    for l in range(1, L + 1):
        # forward: Z[l] = W[l] @ A[l-1] + b[l]
        RZ = vector[f"W{l}"] @ A[l - 1] + params[f"W{l}"] @ RA[l - 1] + vector[f"b{l}"]
        # forward: A[l] = relu(Z[l]), or sigmoid(Z[l]) for the output layer
        RA.append(RZ * (A[l] > 0) if l < L else A[L] * (1 - A[L]) * RZ)
    products: Params = {}
    dZ = A[L] - Y                                   # backprop: dZ[L] = A[L] - Y (1/m below)
    RdZ = RA[L]                                     # R(dZ[L]) = R(A[L])
    for l in range(L, 0, -1):
        # backprop: dW[l] = dZ @ A[l-1].T / m ; db[l] = sum(dZ) / m
        activation_term = 0.0 if forget_activation_term else dZ @ RA[l - 1].T
        products[f"W{l}"] = (RdZ @ A[l - 1].T + activation_term) / m
        products[f"b{l}"] = RdZ.sum(axis=1, keepdims=True) / m
        if l == 1:
            break
        # backprop: dA = W[l].T @ dZ ; dZ[l-1] = dA * (A[l-1] > 0)
        RdA = vector[f"W{l}"].T @ dZ + params[f"W{l}"].T @ RdZ
        dZ = (params[f"W{l}"].T @ dZ) * (A[l - 1] > 0)
        RdZ = RdA * (A[l - 1] > 0)
    return {name: products[name] for name in params}


def buggy_hvp(params: Params, X: np.ndarray, Y: np.ndarray, vector: Params) -> Params:
    """A Hessian-vector product that forgets how the activations move (``dZ R(A)^T``): wrong in W2 and W3."""
    return numpy_hvp(params, X, Y, vector, forget_activation_term=True)


SEED_PLANTED_BUGS: dict[str, float] = {"W2": 2.0, "b1": 4.0}
"""The exercise's two bugs: ``dW2`` has an extra factor 2, ``db1`` uses 4/m for 1/m."""


def seed_buggy_backprop(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """The exercise's buggy backprop: the correct one with ``dW2 * 2`` and ``db1 * 4``.

    In the exercise the factors sit inside the formulas
    (``dW2 = 1/m * dZ2 @ A1.T * 2`` and ``db1 = 4/m * sum(dZ1)``); applying them
    to the correct tensors gives the same numbers.
    """
    if layer_count(params) < 2:
        raise SourceError(
            "the seed's planted bugs live in W2 and b1, so 'numpy-buggy' needs a net with "
            "at least two layers; use sizes such as 4,5,3,1."
        )
    grads = numpy_backprop(params, X, Y)
    for name, factor in SEED_PLANTED_BUGS.items():
        grads[name] = grads[name] * factor
    return grads


# --------------------------------------------------------------------------
# What the fast finite-difference engines and the kink-aware oracles use
# --------------------------------------------------------------------------


def mlp_cost_and_pattern(params: Params, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """The MLP cost (bit-identical to ``mlp_cost``) and the signs of all hidden pre-activations.

    The cost's slope jumps exactly where one of these signs flips (a ReLU kink).
    """
    forward = mlp_forward(params, X, np)
    cost = float(cross_entropy_from_logits(forward.logits, Y, np).mean())
    hidden = forward.Z[1:-1]
    if not hidden:
        return cost, np.zeros((0, X.shape[1]), dtype=bool)
    return cost, np.concatenate([Z > 0 for Z in hidden], axis=0)


def mlp_batched_cost(params: Params, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Costs of a batch of networks: every tensor has a leading batch axis ``(b, ...)``.

    The same forward pass as :func:`mlp_cost`: ``W @ A`` broadcasts over the
    batch axis, and the mean is taken per batch member.
    """
    losses = mlp_example_losses(params, X, Y)  # (b, 1, m)
    return losses.reshape(losses.shape[0], -1).mean(axis=1)


class DenseLayers:
    """An MLP point laid out by layer, for the ``structured`` engine.

    What that engine needs to redo only the part of a forward pass that one
    perturbed weight changes: ``W[l]``, ``b[l]`` and, from one forward pass
    run on first use, ``Z[l]`` and ``A[l]`` (index 0 unused for W, b, Z;
    ``A[0] = X``); which layer each tensor belongs to; the hidden activation
    and the per-example loss of the output logits.
    """

    activation = staticmethod(relu)

    def __init__(self, params: Params, X: np.ndarray, Y: np.ndarray) -> None:
        self.L = layer_count(params)
        self.params = params
        self.W = [None] + [params[f"W{l}"] for l in range(1, self.L + 1)]
        self.b = [None] + [params[f"b{l}"] for l in range(1, self.L + 1)]
        self.X, self.Y = X, Y
        self.roles = {name: (int(name[1:]), name[0] == "W") for name in params}
        """Tensor name -> (its layer l, whether it is the weight W[l] rather than the bias b[l])."""

    @cached_property
    def forward(self) -> ForwardPass:
        """The unperturbed forward pass (one pass of the cost)."""
        record_passes(1)
        return mlp_forward(self.params, self.X)

    @property
    def Z(self) -> list[Any]:
        return self.forward.Z

    @property
    def A(self) -> list[Any]:
        return self.forward.A

    @property
    def widths(self) -> list[int]:
        """Units per layer, ``[n_0, n_1, ..., n_L]``."""
        return [int(self.X.shape[0])] + [int(W.shape[0]) for W in self.W[1:] if W is not None]  # W[0]: None

    @property
    def examples(self) -> int:
        return int(self.X.shape[1])

    def example_losses(self, logits: np.ndarray) -> np.ndarray:
        """Per-example losses of logits shaped ``(n_L, batch, m)``, as ``mlp_cost`` computes them."""
        return cross_entropy_from_logits(logits, self.Y[:, None, :])


# --------------------------------------------------------------------------
# Named points, and the model
# --------------------------------------------------------------------------


def _random(sizes: tuple[int, ...], examples: int, seed: int) -> Callable[[], tuple[Params, np.ndarray, np.ndarray]]:
    return lambda: random_case(sizes, examples, seed)


def parse_layer_sizes(text: str) -> tuple[int, ...]:
    """``"4,5,3,1"`` -> ``(4, 5, 3, 1)``; whether they make a net is :func:`validate_layer_sizes`'s to say."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"sizes must be integers separated by commas, like 4,5,3,1; got {text!r}") from None


RANDOM_POINT = PointBuilder(
    case="random",
    settings=(
        PointSetting("sizes", parse_layer_sizes, "layer sizes of a random MLP, e.g. 4,5,3,1"),
        PointSetting("seed", lambda text: count_from_text(text, smallest=0), "seed of a random MLP"),
        PointSetting("examples", count_from_text, "examples m of a random MLP"),
    ),
    build=random_case,
)
"""``random_case(sizes, examples, seed)`` from the CLI's ``--sizes``, ``--seed`` and ``--examples``."""

CASES: dict[str, Callable[[], tuple[Params, np.ndarray, np.ndarray]]] = {
    "seed": seed_case,
    "fraud-s1-m16": _random(FRAUD_NET_SIZES, 16, 1),
    "fraud-s2-m128": _random(FRAUD_NET_SIZES, 128, 2),
    "fraud-s3-m1024": _random(FRAUD_NET_SIZES, 1024, 3),
    "wide-4-256-1": _random((4, 256, 1), 64, 4),
    "deep-4-32x5-1": _random((4, 32, 32, 32, 32, 32, 1), 64, 5),
    "big-4-96-96-1": _random((4, 96, 96, 1), 32, 6),
}
"""The exercise's seed case, random fraud nets (4-5-3-1) at several example counts, and
wider and deeper He-initialised nets up to about 10,000 parameters."""

MODEL = Model(
    name="mlp",
    cost=mlp_cost,
    description="the fraud-detection MLP (ReLU hidden layers, sigmoid output, mean cross-entropy)",
    validate_point=check_mlp_point,
    gradient=numpy_backprop,
    planted_bug=PlantedBug(seed_buggy_backprop, "the exercise's two bugs: dW2 x2, db1 x4", ("W2", "b1"),
                           derivatives={"hvp": buggy_hvp}),
    derivatives={"hvp": numpy_hvp},
    cases=CASES,
    point_builder=RANDOM_POINT,
    kink_pattern=mlp_cost_and_pattern,
    batched_cost=mlp_batched_cost,
    layers=DenseLayers,
)
