"""ADBench's LSTM objective: a stacked LSTM predicting each character of a text from the one before.

The objective is ADBench's formulation, term for term, so its published
reference values are ours too. Characters are ``b`` bits each; the sequence
``Y`` is ``(c, b)``, one character per row. With ``l`` layers:

* ``main_params`` ``(2l, 4b)``: row ``2j`` holds layer j's weights, row
  ``2j + 1`` its biases, each four gates of ``b``: forget, input, output,
  change. ADBench multiplies *elementwise*, not by a matrix: the forget and
  output gates see the layer's input ``x``, the input and change gates the
  layer's previous hidden state ``h`` (``gates = cat(x, h, x, h) * weight + bias``);
* ``extra_params`` ``(3, b)``: the input scale (``x = Y[t] * extra[0]``) and
  the output's scale and offset (``ypred = h_top * extra[1] + extra[2]``);
* the state ``X`` ``(2l, b)``: row ``2j`` is layer j's hidden state, ``2j + 1``
  its cell state, at the start of the sequence.

The loss is ``-sum_t sum(Y[t+1] * (ypred_t - log(2 + sum(exp(ypred_t))))) / ((c-1) b)``.
The ``2 +`` is ADBench's, reproduced on purpose: ADBench normalises with
Python's built-in ``sum(exp(ypred), 2)``, whose second argument is the start
value of the sum, not an axis, and its reference values contain it.

The cost is written once against ``xp`` (NumPy, ``torch``, ``jax.numpy``),
with a Python loop over time and layers and no in-place writes, so
``torch.func.vmap`` and ``jax.jit`` run it; it is complex-safe (sigmoids
through tanh, nothing compared). Each step of that loop costs every backend
a call per array operation, so the cell evaluates its four gates as ADBench
writes them, in one ``cat(x, h, x, h) * weight + bias`` and one ``tanh``
(:func:`halve_sigmoid_gates`), rather than gate by gate.

The autograd sources run the same loss as each framework runs it best
(:attr:`~gradcheck_bench.models.Model.framework_functions`): for jax the
recurrence is one ``lax.scan``, which compiles (:func:`lstm_cost_jax`); for
torch the loop stays, with what does not depend on the previous step taken
out of it (:func:`lstm_cost_torch`). The xp cost stays the oracles' input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from ..adbench import packaged_test_input
from ..errors import InputError
from ..validation import is_count, require_float_array
from . import Model, Params, PlantedBug

PARAMETER_NAMES = ("main_params", "extra_params")

NORMALISER_START = 2.0
"""ADBench's ``sum(exp(ypred), 2)`` starts its sum at 2: ``log(2 + sum(exp(ypred)))``."""


# --------------------------------------------------------------------------
# The objective, written once for any array namespace
# --------------------------------------------------------------------------


def halve_sigmoid_gates(main: Any, b: int, xp: Any = np) -> Any:
    """``main_params`` with the forget, input and output gates' columns halved (weights and biases).

    ``sigmoid(z) = (1 + tanh(z / 2)) / 2``: with those gates' weights and
    biases halved, one ``tanh`` over all four gates gives the three sigmoids
    and the change gate together. Halving is exact in binary floating point,
    so the gates are the same numbers as ``sigmoid(x * w + b)`` through tanh.
    The map is linear and diagonal, so it is also its own reverse step.
    """
    return xp.concatenate([0.5 * main[:, :3 * b], main[:, 3 * b:]], axis=1)


class CellStep(NamedTuple):
    """One LSTM cell's step: what it read, its gates, and its new cell and hidden state."""

    gate_inputs: Any  # cat(x, hidden, x, hidden)               (4b,)
    activations: Any  # tanh(gate_inputs * weight + bias)        (4b,)
    forget: Any
    ingate: Any
    outgate: Any
    change: Any
    cell: Any
    hidden: Any


def lstm_cell(weight: Any, bias: Any, hidden: Any, cell: Any, x: Any, xp: Any = np) -> CellStep:
    """One step of one layer, ADBench's cell: ``gates = cat(x, h, x, h) * weight + bias``, elementwise.

    ``weight`` and ``bias`` are a layer's rows of :func:`halve_sigmoid_gates`;
    the gates are, in order, forget, input, output (sigmoids) and change (tanh).
    """
    b = hidden.shape[-1]
    gate_inputs = xp.concatenate([x, hidden, x, hidden])
    activations = xp.tanh(gate_inputs * weight + bias)
    sigmoids = 0.5 + 0.5 * activations[:3 * b]
    forget, ingate, outgate, change = sigmoids[:b], sigmoids[b:2 * b], sigmoids[2 * b:], activations[3 * b:]
    new_cell = cell * forget + ingate * change
    new_hidden = outgate * xp.tanh(new_cell)
    return CellStep(gate_inputs, activations, forget, ingate, outgate, change, new_cell, new_hidden)


def log_normaliser(ypred: Any, xp: Any = np) -> Any:
    """ADBench's ``log(sum(exp(ypred), 2))``: the ``2`` is the built-in ``sum``'s start value."""
    return xp.log(NORMALISER_START + xp.exp(ypred).sum())


@dataclass
class LSTMRecord:
    """Every step of a forward pass, for the reverse pass: ``[t][j]`` is time t, layer j."""

    previous_cell: list[list[np.ndarray]] = field(default_factory=list)
    steps: list[list[CellStep]] = field(default_factory=list)


def lstm_forward(params: Params, X: Any, Y: Any, xp: Any = np, record: LSTMRecord | None = None) -> Any:
    """ADBench's LSTM loss; with ``record``, every cell step is kept in it (for the hand-written gradient).

    The state is carried step to step without being stored, so one pass
    holds a few vectors whatever the sequence's length (the vmap fd engines
    size their batches by what one pass holds).
    """
    main, extra = params["main_params"], params["extra_params"]
    layers, b = main.shape[0] // 2, Y.shape[1]
    halved = halve_sigmoid_gates(main, b, xp)
    weights, biases = [halved[2 * j] for j in range(layers)], [halved[2 * j + 1] for j in range(layers)]
    input_scale, output_scale, output_offset = extra[0], extra[1], extra[2]
    hidden = [X[2 * j] for j in range(layers)]
    cell = [X[2 * j + 1] for j in range(layers)]
    total = 0.0
    for t in range(Y.shape[0] - 1):
        if record is not None:
            record.previous_cell.append(list(cell))
            record.steps.append([])
        x = Y[t] * input_scale
        for j in range(layers):
            step = lstm_cell(weights[j], biases[j], hidden[j], cell[j], x, xp)
            hidden[j], cell[j], x = step.hidden, step.cell, step.hidden
            if record is not None:
                record.steps[t].append(step)
        ypred = x * output_scale + output_offset
        total = total + (Y[t + 1] * (ypred - log_normaliser(ypred, xp))).sum()
    return -total / ((Y.shape[0] - 1) * b)


def lstm_cost(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
    """ADBench's LSTM loss: mean negative log-likelihood of each next character's bits.

    ``X`` is the initial state ``(2l, b)``, ``Y`` the sequence ``(c, b)``.
    """
    return lstm_forward(params, X, Y, xp)


# --------------------------------------------------------------------------
# The same loss written for each framework at its best
# --------------------------------------------------------------------------


def _loss_of_predictions(ypred: Any, Y: Any, xp: Any) -> Any:
    """The loss from every step's prediction at once: ``ypred`` ``(c-1, b)``, row t predicting ``Y[t+1]``.

    The same sum as :func:`lstm_forward`'s running ``total``, taken over the
    whole sequence in a few array operations instead of a few per step.
    """
    log_normalisers = xp.log(NORMALISER_START + xp.exp(ypred).sum(axis=1))
    total = (Y[1:] * (ypred - log_normalisers[:, None])).sum()
    return -total / ((Y.shape[0] - 1) * Y.shape[1])


def lstm_cost_jax(params: Params, X: Any, Y: Any) -> Any:
    """:func:`lstm_cost` for jax arrays: the recurrence as one ``jax.lax.scan``, the loss after it.

    Written against ``xp``, the cost is a Python loop that jax traces step by
    step, unrolled into a program too long to compile; ``lax.scan`` traces
    one step and compiles it once, so ``jax.jit(jax.grad(...))`` runs the
    whole sequence compiled. The states of all layers ride in the carry; the
    scan gives back the top layer's hidden state at every step, and the loss
    is taken over all of them at once. Call it inside a float64 scope.
    """
    import jax
    import jax.numpy as jnp

    main, extra = params["main_params"], params["extra_params"]
    layers, b = main.shape[0] // 2, Y.shape[1]
    halved = halve_sigmoid_gates(main, b, jnp)
    weights, biases = halved[0::2], halved[1::2]  # (l, 4b) each

    def step(state: tuple[Any, Any], x: Any) -> tuple[tuple[Any, Any], Any]:
        hidden, cell = state
        hiddens, cells = [], []
        for j in range(layers):
            cell_step = lstm_cell(weights[j], biases[j], hidden[j], cell[j], x, jnp)
            hiddens.append(cell_step.hidden)
            cells.append(cell_step.cell)
            x = cell_step.hidden
        return (jnp.stack(hiddens), jnp.stack(cells)), x

    inputs = Y[:-1] * extra[0]  # x = Y[t] * input_scale, for every step at once
    _, tops = jax.lax.scan(step, (X[0::2], X[1::2]), inputs)
    return _loss_of_predictions(tops * extra[1] + extra[2], Y, jnp)


def lstm_cost_torch(params: Params, X: Any, Y: Any) -> Any:
    """:func:`lstm_cost` for torch tensors: the recurrence in a Python loop (eager torch runs it as it
    goes), with everything that does not depend on the previous step taken out of the loop.

    The inputs' scaling and the whole loss (normalisers, log-likelihood,
    sum) are a few operations over the sequence instead of a few per step;
    inside the loop each cell is :func:`lstm_cell` as the xp cost has it.
    """
    import torch

    main, extra = params["main_params"], params["extra_params"]
    layers, b = main.shape[0] // 2, Y.shape[1]
    halved = halve_sigmoid_gates(main, b, torch)
    weights, biases = halved[0::2], halved[1::2]
    hidden = [X[2 * j] for j in range(layers)]
    cell = [X[2 * j + 1] for j in range(layers)]
    tops = []
    for x in Y[:-1] * extra[0]:  # x = Y[t] * input_scale, for every step at once
        for j in range(layers):
            cell_step = lstm_cell(weights[j], biases[j], hidden[j], cell[j], x, torch)
            hidden[j], cell[j], x = cell_step.hidden, cell_step.cell, cell_step.hidden
        tops.append(x)
    return _loss_of_predictions(torch.stack(tops) * extra[1] + extra[2], Y, torch)


# --------------------------------------------------------------------------
# The hand-written gradient: backpropagation through time
# --------------------------------------------------------------------------


def lstm_gradient(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """dJ/d(main_params, extra_params) of ADBench's LSTM loss, by backpropagation through time, by hand.

    Each reverse step sits under a comment quoting the forward line of
    :func:`lstm_forward` or :func:`lstm_cell` it reverses; time runs
    backwards and, within a time step, layers run top-down.
    """
    return _backpropagate_through_time(params, X, Y, _reverse_cell)


ReverseCell = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


def _backpropagate_through_time(params: Params, X: np.ndarray, Y: np.ndarray, reverse_cell: ReverseCell) -> Params:
    main, extra = params["main_params"], params["extra_params"]
    layers, b = main.shape[0] // 2, Y.shape[1]
    record = LSTMRecord()
    lstm_forward(params, X, Y, np, record)
    halved = halve_sigmoid_gates(main, b)
    d_halved, d_extra = np.zeros_like(main), np.zeros_like(extra)
    d_hidden = [np.zeros(b) for _ in range(layers)]  # from time t+1 back into layer j's state at time t
    d_cell = [np.zeros(b) for _ in range(layers)]
    count = (Y.shape[0] - 1) * b

    for t in reversed(range(Y.shape[0] - 1)):
        top = record.steps[t][-1].hidden
        ypred = top * extra[1] + extra[2]
        # forward: return -total / count;  total += sum(Y[t+1] * (ypred - log_normaliser(ypred)))
        d_ynorm = -Y[t + 1] / count
        # forward: log_normaliser = log(2 + sum(exp(ypred)))
        exp_ypred = np.exp(ypred)
        d_ypred = d_ynorm - d_ynorm.sum() * exp_ypred / (NORMALISER_START + exp_ypred.sum())
        # forward: ypred = x * output_scale + output_offset   (x: the top layer's hidden state)
        d_extra[1] += d_ypred * top
        d_extra[2] += d_ypred
        d_x = d_ypred * extra[1]
        for j in reversed(range(layers)):
            # forward: step = lstm_cell(weights[j], biases[j], hidden[j], cell[j], x);  hidden[j] = x = step.hidden
            d_x, d_hidden[j], d_cell[j] = reverse_cell(
                halved[2 * j], record.previous_cell[t][j], record.steps[t][j], d_x + d_hidden[j], d_cell[j],
                d_halved[2 * j], d_halved[2 * j + 1])
        # forward: x = Y[t] * input_scale
        d_extra[0] += d_x * Y[t]
    # forward: halved = halve_sigmoid_gates(main)   (a diagonal scaling: its own reverse step)
    return {"main_params": halve_sigmoid_gates(d_halved, b), "extra_params": d_extra}


def _reverse_cell(weight: np.ndarray, cell: np.ndarray, step: CellStep, d_new_hidden: np.ndarray,
                  d_new_cell: np.ndarray, d_weight: np.ndarray, d_bias: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reverse one :func:`lstm_cell` step; add into ``d_weight`` and ``d_bias``; return (d_x, d_hidden, d_cell).

    ``d_new_hidden`` is the new hidden state's gradient from both places it
    went: the layer above (or the output) and the next time step.
    """
    b = cell.shape[0]
    tanh_cell = np.tanh(step.cell)
    # forward: new_hidden = outgate * tanh(new_cell)
    d_outgate = d_new_hidden * tanh_cell
    d_new_cell = d_new_cell + d_new_hidden * step.outgate * (1.0 - tanh_cell**2)
    # forward: new_cell = cell * forget + ingate * change
    d_forget = d_new_cell * cell
    d_cell = d_new_cell * step.forget
    d_ingate = d_new_cell * step.change
    d_change = d_new_cell * step.ingate
    # forward: forget, ingate, outgate = 0.5 + 0.5 * activations[:3b];  change = activations[3b:]
    d_activations = np.concatenate([0.5 * d_forget, 0.5 * d_ingate, 0.5 * d_outgate, d_change])
    # forward: activations = tanh(gate_inputs * weight + bias)
    d_preactivations = d_activations * (1.0 - step.activations**2)
    d_weight += d_preactivations * step.gate_inputs
    d_bias += d_preactivations
    d_gate_inputs = d_preactivations * weight
    # forward: gate_inputs = cat(x, hidden, x, hidden)
    d_x = d_gate_inputs[:b] + d_gate_inputs[2 * b:3 * b]
    d_hidden = d_gate_inputs[b:2 * b] + d_gate_inputs[3 * b:]
    return d_x, d_hidden, d_cell


def _reverse_cell_dropping_the_carried_cell(*arguments: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_reverse_cell` with the planted bug: nothing flows back through ``new_cell = cell * forget``."""
    d_x, d_hidden, d_cell = _reverse_cell(*arguments)
    return d_x, d_hidden, np.zeros_like(d_cell)


def lstm_gradient_without_cell_carry(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """The planted bug: the cell state's gradient is not carried back to the previous time step.

    The slip is a forgotten term in the cell-state reverse step: ``new_cell =
    cell * forget + ingate * change`` sends ``d_new_cell * forget`` back into
    the previous cell state, and leaving it out truncates backpropagation
    through time at every step. Every gradient that flows through a cell
    state is wrong: both ``main_params`` and ``extra_params``.
    """
    return _backpropagate_through_time(params, X, Y, _reverse_cell_dropping_the_carried_cell)


# --------------------------------------------------------------------------
# Points to check at
# --------------------------------------------------------------------------


PRINTABLE_ASCII = (32, 127)
"""Character codes the generated text is drawn from (space to tilde), when b is at least 7 bits."""


def lstm_point(l: int, c: int, b: int = 14, seed: int = 0) -> tuple[Params, np.ndarray, np.ndarray]:
    """A random LSTM point drawn the way ADBench's generator draws them, from ``default_rng(seed)``.

    The state, ``main_params`` and ``extra_params`` are uniform on ``[0, 1)``
    (drawn in ADBench's order); the sequence is a random text of ``c``
    characters written as ``b`` bits each, most significant first, as
    ADBench writes its text. ADBench's text is English prose; here the
    characters are uniform over printable ASCII (over all ``2^b`` codes when
    ``b < 7``). Returns ``({main_params (2l, 4b), extra_params (3, b)},
    state (2l, b), sequence (c, b))``.
    """
    for name, value, smallest in (("l", l, 1), ("c", c, 2), ("b", b, 1)):
        if not is_count(value, smallest):
            raise InputError(f"lstm_point needs an integer {name} >= {smallest}, got {value!r}.")
    rng = np.random.default_rng(seed)
    state = rng.random((2 * l, b))
    params = {"main_params": rng.random((2 * l, 4 * b)), "extra_params": rng.random((3, b))}
    low, high = PRINTABLE_ASCII if b >= 7 else (0, 2**b)
    codes = rng.integers(low, high, size=c)
    sequence = ((codes[:, None] >> np.arange(b - 1, -1, -1)) & 1).astype(np.float64)
    return params, state, sequence


def validate_lstm_point(params: Params, X: Any, Y: Any) -> None:
    """``main_params (2l, 4b)``, ``extra_params (3, b)``, state ``X (2l, b)``, sequence ``Y (c, b)``, c >= 2."""
    if sorted(params) != sorted(PARAMETER_NAMES):
        raise InputError(f"the LSTM takes parameters {', '.join(PARAMETER_NAMES)}; got {sorted(params)}. "
                         "Build a point with lstm_point(l, c) or read_adbench('lstm', path).")
    require_float_array(X, "X (the initial state)")
    require_float_array(Y, "Y (the sequence)")
    main, extra = params["main_params"], params["extra_params"]
    if main.ndim != 2 or main.shape[0] < 2 or main.shape[0] % 2 or main.shape[1] < 4 or main.shape[1] % 4:
        raise InputError(f"main_params must be (2l, 4b): a weight row and a bias row per layer, four gates of b "
                         f"bits each; got shape {main.shape}.")
    layers, b = main.shape[0] // 2, main.shape[1] // 4
    if extra.shape != (3, b):
        raise InputError(f"extra_params must be (3, b) = (3, {b}) (input scale, output scale, output offset) "
                         f"for main_params of shape {main.shape}; got shape {extra.shape}.")
    if X.shape != (2 * layers, b):
        raise InputError(f"X, the initial state, must be (2l, b) = ({2 * layers}, {b}): hidden and cell state per "
                         f"layer; got shape {X.shape}.")
    if Y.ndim != 2 or Y.shape[1] != b or Y.shape[0] < 2:
        raise InputError(f"Y, the sequence, must be (c, b) with c >= 2 characters of b = {b} bits; "
                         f"got shape {Y.shape}.")


def adbench_test_point() -> tuple[Params, np.ndarray, np.ndarray]:
    """ADBench's LSTM test input (``data/lstm/lstm_l2_c1024.txt``: l=2, c=1024, b=14)."""
    return packaged_test_input("lstm")


def _generated(l: int, c: int) -> Callable[[], tuple[Params, np.ndarray, np.ndarray]]:
    return lambda: lstm_point(l, c, b=14, seed=0)


GENERATED_SIZES: tuple[tuple[int, int], ...] = ((2, 1024), (4, 1024))
"""``(l, c)`` of the generated cases, b = 14, from ADBench's grid (l in 2, 4; c in 1024, 4096). One
forward pass is a Python loop over c - 1 characters and l layers, and the loop fd engine runs
2 * (8lb + 3b) of them: the c = 4096 sizes take four times as long per pass, minutes of fd on a 2-core
machine, so only c = 1024 is a case. l = 2 at c = 1024 is the size of ADBench's test input, on other
numbers."""

SMALL_SIZE: tuple[int, int] = (2, 4)
"""``(l, c)`` of the first case, b = 14: ADBench's parameters (they do not depend on c) on a sequence short
enough for every source, JAX's compile of the unrolled loop and the oracles' passes included, to take seconds;
the first case is the one a default ``compare`` run checks."""

CASES: dict[str, Callable[[], tuple[Params, np.ndarray, np.ndarray]]] = {
    f"lstm-l{SMALL_SIZE[0]}-c{SMALL_SIZE[1]}": _generated(*SMALL_SIZE),
    "lstm-adbench-l2-c1024": adbench_test_point,
    **{f"lstm-l{l}-c{c}": _generated(l, c) for l, c in GENERATED_SIZES},
}


MODEL = Model(
    name="lstm",
    cost=lstm_cost,
    description="ADBench's LSTM next-character loss (elementwise gates, log(2 + sum exp) normaliser)",
    validate_point=validate_lstm_point,
    gradient=lstm_gradient,
    planted_bug=PlantedBug(
        lstm_gradient_without_cell_carry,
        "the cell state's gradient not carried back through time (new_cell = cell * forget reversed as 0)",
        ("main_params", "extra_params"),
    ),
    cases=CASES,
    complex_safe=True,
    framework_functions={"jax": lstm_cost_jax, "torch": lstm_cost_torch},
)
