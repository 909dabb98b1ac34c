"""The points on which the autograd sources (torch, jax) are checked: shared by their test files."""

import gradcheck_bench as gb
from gradcheck_bench.models.mlp import random_case

# The seed case and random He-initialised nets from 47 to 9,889 parameters.
POINTS = {
    "seed": gb.seed_case,
    "fraud-m3": lambda: random_case((4, 5, 3, 1), 3, 0),
    "fraud-m256": lambda: random_case((4, 5, 3, 1), 256, 7),
    "4-32-16-1": lambda: random_case((4, 32, 16, 1), 16, 2),
    "10-64-32-8-1": lambda: random_case((10, 64, 32, 8, 1), 20, 3),
    "4-96-96-1": lambda: random_case((4, 96, 96, 1), 32, 6),
}
