"""The asv benchmark suite of gradcheck-bench (see asv.conf.json and docs/benchmarks.md).

Every module here imports only the public API ``gradcheck_bench`` and imports
cleanly whether or not torch and jax are installed: a missing backend or
engine shows as n/a, because ``setup`` raises ``NotImplementedError``.
"""
