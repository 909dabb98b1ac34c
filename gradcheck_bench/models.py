"""The models whose gradients we check: the fraud-detection MLP and the 1-D model.

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

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import InputError

Params = dict[str, np.ndarray]
"""A point in parameter space: tensor name -> float64 array."""

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


def analytic_abs(Z: Any, xp: Any = np) -> Any:
    """``|Z|`` for real input; ``Z`` or ``-Z`` (by the sign of the real part) for complex.

    ``xp.abs`` of a complex number is its modulus, which is not analytic and
    would destroy the complex-step derivative; this keeps it analytic.
    """
    return xp.where(Z.real > 0, Z, -Z)


def sigmoid(Z: Any, xp: Any = np) -> Any:
    """1 / (1 + exp(-Z)) written through tanh, so it never overflows."""
    return 0.5 * (1.0 + xp.tanh(0.5 * Z))


def cross_entropy_from_logits(Z: Any, Y: Any, xp: Any = np) -> Any:
    """Per-example ``-Y log(sigmoid(Z)) - (1-Y) log(1 - sigmoid(Z))``.

    Computed as ``softplus(Z) - Y*Z``, which is the same function but stays
    finite where ``log(sigmoid(Z))`` would underflow to ``log(0)``.

    Each branch is exactly softplus: ``Z + log1p(exp(-Z))`` where ``Re Z > 0``,
    ``log1p(exp(Z))`` elsewhere. So autograd gets the slope ``sigmoid(Z) - Y``
    everywhere, ``Z = 0`` included (the earlier ``where(Z > 0, Z, 0) +
    log1p(exp(-abs(Z)))`` gave torch and JAX ``-Y`` there, wrong at all-zero
    parameters), and a complex input (the complex-step oracle) stays analytic.
    """
    softplus = relu(Z, xp) + xp.log1p(xp.exp(-analytic_abs(Z, xp)))
    return softplus - Y * Z


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
            "gradcheck_bench.init_params(sizes) or pass your own cost to fd()."
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


def mlp_example_losses(params: Params, X: Any, Y: Any, xp: Any = np, masks: Any = None) -> Any:
    """The cross-entropy of each example, shape ``(1, m)``."""
    return cross_entropy_from_logits(mlp_forward(params, X, xp, masks).logits, Y, xp)


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
    A = 1.0 / (1.0 + xp.exp(-mlp_forward(params, X, xp).logits))
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
    if examples < 1:
        raise InputError(f"examples must be at least 1, got {examples}.")
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
    if len(sizes) < 2 or any(int(s) != s or s < 1 for s in sizes):
        raise InputError(
            f"layer sizes must be two or more positive integers such as 4,5,3,1; got {sizes}."
        )
    if sizes[-1] != 1:
        raise InputError(
            f"the output layer must have 1 unit (one sigmoid probability); got sizes {sizes}."
        )
    count = parameter_count(sizes)
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


def parameter_count(sizes: tuple[int, ...] | list[int]) -> int:
    """Weights and biases of an MLP with these layer sizes."""
    return sum(sizes[l] * (sizes[l - 1] + 1) for l in range(1, len(sizes)))


def _short(sizes: tuple[int, ...]) -> str:
    text = ",".join(map(str, sizes[:6]))
    return text + f",... ({len(sizes)} sizes)" if len(sizes) > 6 else text


def validate_mlp_point(params: Params, X: np.ndarray, Y: np.ndarray) -> None:
    """Check that params, X and Y fit together as one MLP; raise InputError saying how not."""
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


# --------------------------------------------------------------------------
# The 1-D model J(theta) = theta * x
# --------------------------------------------------------------------------


def linear1d_case(x: float = 2.0, theta: float = 4.0) -> tuple[Params, np.ndarray, None]:
    """The point ``({"theta": theta}, x, None)`` of the 1-D model (it has no labels)."""
    return {"theta": np.array(float(theta))}, np.array(float(x)), None


def linear1d_cost(params: Params, X: Any, Y: Any = None, xp: Any = np) -> Any:
    """J(theta) = theta * x.

    ``xp`` is unused (a product needs no namespace function) but accepted, so
    that every model cost has the signature ``cost(params, X, Y, xp=...)`` the
    autograd sources call with ``torch`` or ``jax.numpy``.
    """
    return params["theta"] * X


def validate_linear1d_point(params: Params, X: np.ndarray, Y: Any) -> None:
    if sorted(params) != ["theta"] or np.shape(params["theta"]) != () or np.shape(X) != ():
        raise InputError(
            "the 1-D model takes params {'theta': scalar} and a scalar x; "
            f"got params {sorted(params)} and x of shape {np.shape(X)}."
        )


# --------------------------------------------------------------------------
# Registry of models, by the name the CLI and check(model=...) use
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A named cost function and the check that a point suits it.

    ``cost(params, X, Y, xp=np)`` is written against the array namespace
    ``xp``; the torch and jax sources call it with ``xp=torch`` and
    ``xp=jax.numpy``, so a model is defined once for every backend.
    """

    name: str
    cost: Callable[[Params, Any, Any], Any]
    validate_point: Callable[[Params, Any, Any], None]


MODELS: dict[str, Model] = {
    "mlp": Model("mlp", mlp_cost, validate_mlp_point),
    "linear1d": Model("linear1d", linear1d_cost, validate_linear1d_point),
}


def get_model(model: str | Model) -> Model:
    """Look a model up by name; a Model passes through."""
    if isinstance(model, Model):
        return model
    try:
        return MODELS[model]
    except KeyError:
        raise InputError(
            f"unknown model {model!r}; choose one of {', '.join(sorted(MODELS))}."
        ) from None
