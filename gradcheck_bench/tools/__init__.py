"""The tools beside the library: the comparison report, the accuracy study, the peer and growth
benchmarks, the Dask benchmark, the asv regression gate and the dashboard check.

Each is loaded only by the ``gradcheck-bench`` command that runs it (:mod:`gradcheck_bench.cli`);
nothing in the library imports from here. Tools take plain keyword arguments; the command line
that builds them lives in the CLI.
"""
