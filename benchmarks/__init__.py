"""The asv benchmark suite of gradcheck-bench (see asv.conf.json and docs/benchmarks.md).

Every module here imports only the public API ``gradcheck_bench`` and imports
cleanly whether or not torch and jax are installed: a missing backend or
engine shows as n/a, because ``setup`` raises ``NotImplementedError``.
"""

import importlib
import importlib.util
import os
import sys

if sys.argv[1:2] == ["run_server"]:
    # The regression gate runs asv with --launch-method forkserver: asv imports the suite once per commit, in
    # this server process, and forks a process for every benchmark value. The frameworks the gate names here
    # are imported once, before the forks, instead of again (seconds each) by every torch or jax value.
    # Nothing else changes: each value still builds its own sources in setup.
    for _framework in filter(None, os.environ.get("GRADCHECK_BENCH_PREIMPORT", "").split(",")):
        if importlib.util.find_spec(_framework) is not None:
            importlib.import_module(f"{_framework}.numpy" if _framework == "jax" else _framework)
