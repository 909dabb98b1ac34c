"""Does the Dask engine pay off here? The fd gradient on a local Dask cluster vs in one process.

``gradcheck-bench dask-bench`` times, in one run and interleaved
repeat by repeat (so that a load spike from another process hits both), the
full finite-difference gradient of MLPs from the seed case (n = 47) to about
1e5 parameters:

* the best single-process engine (the faster of ``structured`` and
  ``numpy-batched``; the latter only while its whole-vector copies are cheap);
* ``engine="dask"`` on a running 2-worker ``LocalCluster`` (1 thread each,
  loopback), whose start-up and shut-down are timed separately;
* once, the embedded default (no address: start a cluster, run, shut it down).

From Dask's task stream it also records what a cost model on k machines
needs: the per-task compute time, the number of tasks, and the bytes
scattered once (the point), sent per task (indices and steps) and returned
per task (differences). Tables go to ``results/dask/`` (CSV + Markdown).
"""

from __future__ import annotations

import math
import os
import pickle
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..metrics import relative_difference
from ..differences.engines import DEFAULT_MEMORY_BUDGET, choose_engine, dask_engine
from ..models.mlp import MODEL as MLP, random_case, seed_case
from ..ravel import parameter_count, ravel
from ..differences.driver import chunk_ranges
from ..differences.central import fd
from .report import provenance, table_to_markdown, write_provenance, write_table

NETS = [((4, 5, 3, 1), 3), ((4, 30, 15, 1), 100), ((4, 120, 60, 1), 100), ((4, 220, 110, 1), 100),
        ((4, 420, 210, 1), 100)]
"""(layer sizes, examples m): n = 47, 631, 7,921, 25,521 and 90,721 parameters."""

LOCAL_ENGINES = ("structured", "numpy-batched")
NUMPY_BATCHED_LIMIT = 10_000
"""numpy-batched copies the whole parameter vector per pass; past this n it is far behind
structured (over 60 s at n = 90,721 against about 5 s) and is not timed."""

WORKERS = 2
MODEL_WORKERS = (2, 8, 32, 128, 512)
"""Worker threads W = k machines x c cores in the paper cost model."""
ASSUMED_BANDWIDTH = 1.25e9
"""Bytes per second of one link in the cost model (10 Gb/s Ethernet): an assumption, not measured."""
ASSUMED_SECONDS_PER_TASK = 1e-3
"""Scheduler cost per task in the model (Dask's order of magnitude): an assumption, not measured."""
RESULTS = Path("results") / "dask"


def gradient(params: Any, X: Any, Y: Any, engine: str, **engine_options: Any) -> np.ndarray:
    """The flat fd gradient of the MLP cost with one engine."""
    return ravel(dict(fd(engine=engine, progress=False, engine_options=engine_options)(params, X, Y)))[0]


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def point_of(sizes: tuple[int, ...], m: int) -> tuple[Any, Any, Any]:
    return seed_case() if sizes == (4, 5, 3, 1) else random_case(sizes, m, seed=0)


def local_engines_for(n: int) -> list[str]:
    return [name for name in LOCAL_ENGINES if name != "numpy-batched" or n <= NUMPY_BATCHED_LIMIT]


def task_profile(client: Any, run: Callable[[], Any]) -> tuple[float, Any, list[tuple[str, float]]]:
    """Wall time of ``run`` and ``(worker, compute seconds)`` of each fd task, from Dask's task stream."""
    from distributed import get_task_stream

    with get_task_stream(client=client) as stream:
        seconds, result = timed(run)
    computes = [(task["worker"], part["stop"] - part["start"]) for task in stream.data
                if str(task["key"]).startswith("fd-slice")
                for part in task["startstops"] if part["action"] == "compute"]
    return seconds, result, computes


def busiest_worker_s(computes: list[tuple[str, float]]) -> float:
    """Compute seconds of the worker that computed longest: the run's critical path."""
    per_worker: dict[str, float] = {}
    for worker, seconds in computes:
        per_worker[worker] = per_worker.get(worker, 0.0) + seconds
    return max(per_worker.values())


def transfer_sizes(params: Any, X: Any, Y: Any, n: int, tasks: int) -> dict[str, int]:
    """Bytes of the point (scattered once to each worker), of one task's input and one result."""
    size = -(-n // tasks)
    task_input = pickle.dumps((np.arange(size), np.full(size, 1e-5)), protocol=5)
    return {"point_bytes": len(pickle.dumps((params, X, Y), protocol=5)),
            "bytes_per_task": len(task_input), "bytes_per_result": len(pickle.dumps(np.zeros(size), protocol=5))}


def measure_net(client: Any, sizes: tuple[int, ...], m: int, repeats: int) -> dict[str, Any]:
    """Median times of the local engines and of dask on the running cluster, interleaved."""
    params, X, Y = point_of(sizes, m)
    n = parameter_count(params)
    engines = local_engines_for(n)
    local_times: dict[str, list[float]] = {name: [] for name in engines}
    dask_times: list[float] = []
    overheads: list[float] = []
    computes: list[float] = []
    for _ in range(repeats):
        for name in engines:
            seconds, local = timed(lambda: gradient(params, X, Y, name))
            local_times[name].append(seconds)
        seconds, distributed, task_computes = task_profile(client, lambda: gradient(params, X, Y, "dask", client=client))
        dask_times.append(seconds)
        overheads.append(seconds - busiest_worker_s(task_computes))
        computes = [compute for _, compute in task_computes]
    best = min(engines, key=lambda name: statistics.median(local_times[name]))
    best_s, dask_s = statistics.median(local_times[best]), statistics.median(dask_times)
    tasks = len(computes)
    worker_engine = choose_engine("auto", MLP, params, X, Y).name
    return {
        "sizes": "-".join(map(str, sizes)), "n": n, "m": m,
        "best_local_engine": best, "best_local_s": best_s, "dask_s": dask_s,
        "dask_speedup": best_s / dask_s, "worker_engine": worker_engine, "tasks": tasks,
        "driver_chunks": len(chunk_ranges(choose_engine("dask", MLP, params, X, Y), MLP, params, X, Y, np.arange(n),
                                          DEFAULT_MEMORY_BUDGET)),
        "median_task_compute_s": statistics.median(computes),
        "sum_task_compute_s": sum(computes),
        "compute_s_per_coordinate": sum(computes) / n,
        "overhead_s": statistics.median(overheads),
        **transfer_sizes(params, X, Y, n, tasks),
        "dask_vs_local_rel_diff": relative_difference(distributed, local),
        **{f"{name}_s": statistics.median(times) for name, times in local_times.items()},
    }


def embedded_run(sizes: tuple[int, ...], m: int) -> dict[str, Any]:
    """The default ``engine="dask"`` with no address: cluster start + run + shut-down, once."""
    params, X, Y = point_of(sizes, m)
    seconds, _ = timed(lambda: gradient(params, X, Y, "dask"))
    return {"sizes": "-".join(map(str, sizes)), "n": parameter_count(params), "m": m,
            "embedded_total_s": seconds}


def run_benchmark(repeats: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    from distributed import Client

    startup_s, cluster = timed(lambda: dask_engine.start_local_cluster(WORKERS))
    client = Client(cluster, set_as_default=False)
    try:
        client.wait_for_workers(WORKERS)
        gradient(*seed_case(), "dask", client=client)  # warm-up: imports on the workers
        rows = [measure_net(client, sizes, m, repeats) for sizes, m in NETS]
    finally:
        client.close()
        shutdown_s, _ = timed(cluster.close)
    embedded = embedded_run(*NETS[-1])
    extra = {"cluster_startup_s": startup_s, "cluster_shutdown_s": shutdown_s, "workers": WORKERS,
             "threads_per_worker": 1, "cores": os.cpu_count(), "repeats": repeats, **embedded}
    return pd.DataFrame(rows), extra


COLUMNS = """Columns: `best_local_s` the faster single-process engine (`best_local_engine`);
`dask_s` engine="dask" on the running cluster; `dask_speedup` = best_local_s / dask_s;
`worker_engine` what each worker ran; `driver_chunks` chunks from the 256 MiB budget (the workers
re-cut them as the local engine chunks, under the budget shared by a machine's worker threads);
`*_task_compute_s` from Dask's task stream (last repeat); `compute_s_per_coordinate` = sum of task
compute / n; `overhead_s` (median) = wall time minus the busiest worker's compute (scatter,
scheduling, waiting for the slower worker, result transfer); `point_bytes` pickled (params, X, Y),
sent once to every worker; `bytes_per_task` / `bytes_per_result` pickled indices+steps and
differences of one task; `dask_vs_local_rel_diff` at the default eps (1e-5), where both carry
float64 rounding noise (the <= 1e-12 agreement is tested at eps = 1e-2).
"""


def scaling_model(table: pd.DataFrame) -> pd.DataFrame:
    """On paper: the fd gradient on W single-threaded workers, from this run's measured numbers.

    ``T(W) = F + P log2(W) / B + (TASKS_PER_THREAD W - tasks) d + 1.25 n t_c / W``, where
    F is the measured overhead of a call (at the measured task count), P the point's bytes
    (replicated peer to peer, so log2 W rounds), B and d the assumed bandwidth and per-task
    scheduler cost, t_c the measured compute seconds per coordinate on one worker thread,
    and 1.25 the worst tail of the tasks (one task of 1 / (4 W) of the work). Task
    inputs and results add 24 bytes per coordinate in all, whatever W.
    """
    fixed = float(table["overhead_s"].iloc[0])  # the smallest net: a call that is all overhead
    rows = []
    for row in table.itertuples(index=False):
        work = row.compute_s_per_coordinate * row.n
        for workers in MODEL_WORKERS:
            scatter = row.point_bytes * math.log2(workers) / ASSUMED_BANDWIDTH
            scheduling = max(dask_engine.TASKS_PER_THREAD * workers - row.tasks, 0) * ASSUMED_SECONDS_PER_TASK
            compute = 1.25 * work / workers
            total = fixed + scatter + scheduling + compute + 24 * row.n / ASSUMED_BANDWIDTH
            rows.append({"n": row.n, "workers": workers, "compute_s": compute, "scatter_s": scatter,
                         "scheduling_s": scheduling, "fixed_s": fixed, "total_s": total,
                         "speedup_vs_best_local": row.best_local_s / total})
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    return table_to_markdown(frame).rstrip() + "\n"


def run_dask_bench(out: Path = RESULTS, repeats: int = 3) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run the benchmark and write ``results/dask/`` (tables, the cost model, provenance)."""
    record = provenance(repeats=repeats, workers=WORKERS, nets=["-".join(map(str, s)) for s, _ in NETS])
    table, extra = run_benchmark(repeats)
    setup = pd.DataFrame([extra])
    model = scaling_model(table)
    write_table(table, out, "dask_vs_local", "Dask engine vs the best single-process engine")
    write_table(setup, out, "cluster", "Cluster set-up (timed apart from the runs)")
    write_table(model, out, "scaling_model", "Cost model on W worker threads (on paper, from the measured numbers)")
    write_provenance(out, {**record, "columns": COLUMNS, "cost_model": scaling_model.__doc__})
    return table, extra
