"""What gradbench's evals share: their inputs, drawn as gradbench draws them, and their validation rule.

gradbench (gradbench/gradbench, MIT, Copyright (c) 2024 Sam Estep) generates
the inputs of llsq, lse, det, ode and kmeans by seeding NumPy's legacy global
generator once with 31337 and drawing one input per size combination, in the
order the combinations are evaluated: sorted by the product of their sizes,
ties keeping the nesting order of the size lists (Python's stable sort).
Drawing the same way here makes our outputs comparable with gradbench's
published runs. The draws use a private ``RandomState``, so the caller's
global NumPy generator is left as it was.

Validation is gradbench's "mismatch" rule: a pair of numbers x (tool) and y
(expected) fails when ``|x - y| / max(1, |x| + |y|) > 1e-4``.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator, Sequence

import numpy as np

SEED = 31337
"""The seed every gradbench eval gives ``np.random.seed`` once, before its first draw."""

TOLERANCE = 1e-4
"""gradbench's mismatch tolerance (ADBench's rule, with 1e-4 instead of 1e-8)."""

Sizes = tuple[int, ...]


def size_order(*size_lists: Sequence[int]) -> list[Sizes]:
    """Every combination of the size lists, in the order gradbench evaluates (and so draws) them."""
    combinations = list(itertools.product(*size_lists))
    return sorted(combinations, key=lambda sizes: int(np.prod(sizes)))  # sorted() is stable, as gradbench's is


def draw_inputs(size_lists: Sequence[Sequence[int]],
                draw: Callable[[np.random.RandomState, Sizes], Any]) -> Iterator[tuple[Sizes, Any]]:
    """``(sizes, input)`` for each combination, drawn in gradbench's order from one generator seeded 31337.

    ``draw(rng, sizes)`` makes one input with ``rng.rand`` as gradbench's ``np.random.rand``; every earlier
    combination is drawn too (and discarded by a caller that wants one), because each draw moves the stream.
    """
    rng = np.random.RandomState(SEED)
    for sizes in size_order(*size_lists):
        yield sizes, draw(rng, sizes)


def input_at(size_lists: Sequence[Sequence[int]], draw: Callable[[np.random.RandomState, Sizes], Any],
             sizes: Sizes) -> Any:
    """The input gradbench draws for one combination of sizes (the earlier ones are drawn and discarded)."""
    for drawn_sizes, value in draw_inputs(size_lists, draw):
        if drawn_sizes == tuple(sizes):
            return value
    raise ValueError(f"sizes {tuple(sizes)} are not among gradbench's combinations {size_order(*size_lists)}")


def mismatch(tool: Any, expected: Any) -> np.ndarray:
    """gradbench's per-number mismatch ``|x - y| / max(1, |x| + |y|)``, elementwise over two arrays."""
    x = np.asarray(tool, dtype=float)
    y = np.asarray(expected, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"gradbench compares equal structures; got shapes {x.shape} and {y.shape}")
    return np.abs(x - y) / np.maximum(1.0, np.abs(x) + np.abs(y))


def passes(tool: Any, expected: Any, tolerance: float = TOLERANCE) -> bool:
    """Whether every number passes gradbench's rule (a NaN fails here; gradbench's comparison lets it by)."""
    worst = mismatch(tool, expected)
    return bool(worst.size == 0 or (np.all(np.isfinite(worst)) and worst.max() <= tolerance))
