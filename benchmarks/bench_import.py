"""What ``import gradcheck_bench`` costs, beside ``import numpy``, each in a fresh interpreter.

The package is imported by every test file that checks a gradient, so its import is paid once per
test process: it loads NumPy and the library, never pandas, a framework or a tool (those load where
they are used).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

ROUNDS = 7
"""Fresh interpreters per module and measurement, alternating numpy and gradcheck_bench."""


def cumulative_import_microseconds(module: str) -> int:
    """The import time ``python -X importtime`` reports for ``module`` itself (all it imports included)."""
    completed = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                               capture_output=True, text=True, check=True)
    for line in reversed(completed.stderr.splitlines()):
        fields = [field.strip() for field in line.split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1])
    raise RuntimeError(f"python -X importtime did not report {module}")


class ImportTime:
    """Seconds to import each module in a fresh interpreter, and the package's import over numpy's."""

    timeout = 120

    def timeraw_import_numpy(self) -> str:
        return "import numpy"

    def timeraw_import_gradcheck_bench(self) -> str:
        return "import gradcheck_bench"

    def track_import_over_numpy(self) -> float:
        """Median, over alternating fresh interpreters, of gradcheck_bench's import time over numpy's."""
        ratios = []
        for _ in range(ROUNDS):
            numpy_us = cumulative_import_microseconds("numpy")
            ratios.append(cumulative_import_microseconds("gradcheck_bench") / numpy_us)
        return statistics.median(ratios)

    track_import_over_numpy.unit = "ratio"
