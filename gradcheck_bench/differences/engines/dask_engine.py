"""The Dask engine: the chunks of the finite differences spread over a Dask cluster.

The 2n forward passes of a centered-difference gradient are independent, so
they shard without any coordination: the point ``(params, X, Y)`` is
scattered to every worker once, each task is a run of pieces of the
perturbation indices (with their steps), and each worker evaluates its
pieces with the fastest *local* engine for that cost and point (the same
choice as ``engine="auto"``, made on the worker), one memory-budgeted piece
at a time (the budget is shared by the worker threads of one machine). The
differences come back as tasks complete (they feed the progress bar) and
are placed by index, so the gradient is the local engine's whichever worker
computed which task.

Where it runs: with no ``scheduler``/``client``, a ``LocalCluster`` of worker
processes on the loopback interface (one single-threaded worker per core) is
started for the call and shut down afterwards; with ``scheduler="tcp://HOST:PORT"``
or a ``distributed.Client`` that cluster is used and left running (its workers
must be able to import ``gradcheck_bench``).

Faults: a worker that dies mid-run loses only its running task; the
scheduler reruns it on another worker (Dask retries tasks of lost workers, up
to ``distributed.scheduler.allowed-failures`` times) and the scattered point
survives on the other workers (it is broadcast to all of them). Where the
cluster lost the point all the same (on a loaded host it once had only the
killed worker's copy) it cancels the tasks that read it; those are submitted
again, against the point scattered anew, up to ``RESUBMITS`` times each. A scheduler
that cannot be reached raises :class:`SchedulerUnreachableError` after
``CONNECT_TIMEOUT_S`` seconds instead of hanging.

Never chosen by ``engine="auto"``: every call pays for scattering the point
and scheduling tasks, and the embedded cluster for starting and stopping
processes, which one machine's cores do not win back
(``gradcheck-bench dask-bench`` measures it, results/dask/). Distribution pays
off only with more cores than one machine has; name ``engine="dask"`` (with
a ``scheduler``) then.

``dask`` and ``distributed`` are imported only inside the functions that use
them; without them the engine is listed as unavailable.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from typing import Any, Generator, Iterable, Iterator

import numpy as np

from ...counting import record_passes
from ...errors import GradCheckError, InputError
from ...models import Model, Params
from ...ravel import parameter_count
from ...validation import is_count
from . import DEFAULT_MEMORY_BUDGET, Chunk, ChunkEvaluator, FDEngine, choose_engine

CONNECT_TIMEOUT_S = 10.0
"""Seconds to wait for a scheduler (and for its first worker) before giving up with an error."""

TASKS_PER_THREAD = 4
"""Tasks per worker thread by default: enough to balance uneven workers and move the bar,
few enough that the per-task overhead (a few ms) stays small next to the work."""

PIECES_PER_TASK = 4
"""Pieces (engine calls) per task at least, so that tasks of equal piece counts cost about the same."""

LOOPBACK = "127.0.0.1"


class SchedulerUnreachableError(GradCheckError):
    """The Dask cluster named by ``scheduler=`` could not be reached, or has no workers."""


def local_engine(model: Model, params: Params, X: Any, Y: Any) -> FDEngine:
    """The engine a worker runs on its slice: the fastest local one for this cost (``engine='auto'``)."""
    return choose_engine("auto", model, params, X, Y)


def prepare(model: Model, params: Params, X: Any, Y: Any) -> ChunkEvaluator:
    """A chunk evaluated as a worker evaluates it: with the fastest local engine."""
    return local_engine(model, params, X, Y).prepare(model, params, X, Y)


def bytes_per_coordinate(model: Model, params: Params, X: Any, Y: Any) -> int | np.ndarray:
    """Memory per coordinate of the local engine the workers run at this point."""
    return local_engine(model, params, X, Y).bytes_per_coordinate(model, params, X, Y)


def evaluate_pieces(model: Model, point: tuple[Params, Any, Any], pieces: list[Chunk]) -> np.ndarray:
    """One task, on a worker: the costs ``(2, k)`` of its pieces, one engine call per piece, in order."""
    params, X, Y = point
    evaluate = prepare(model, params, X, Y)
    return np.concatenate([evaluate(indices, steps) for indices, steps in pieces], axis=1)


def map_chunks(model: Model, params: Params, X: Any, Y: Any, chunks: Iterable[Chunk], *,
               scheduler: str | None = None, client: Any = None,
               task_size: int | None = None, memory_budget: int | None = None) -> Generator[Chunk, None, None]:
    """Every task's ``(indices, costs)`` from the cluster, in the order tasks complete.

    The coordinates are cut into pieces as the local engine would chunk them
    in one process (up to its fastest working set), under the memory budget
    shared by the worker threads of the busiest machine (it holds per
    machine). A task is a run of consecutive pieces, the same number of
    pieces per task (about ``TASKS_PER_THREAD`` tasks per worker thread, or
    ``task_size`` coordinates each; pieces are halved until every task gets
    ``PIECES_PER_TASK``). Pieces, not coordinates, are counted because a
    coordinate's cost depends on its layer (a first-layer perturbation reruns
    the whole net, a last-layer one only the logits) and a piece's memory
    follows that cost: tasks of equal coordinate counts would leave one
    worker with all of the first layer.
    """
    validate_options(scheduler, client, task_size)
    chunk_list = list(chunks)
    if not chunk_list:
        return
    indices = np.concatenate([chunk_indices for chunk_indices, _ in chunk_list])
    steps = np.concatenate([chunk_steps for _, chunk_steps in chunk_list])
    del chunk_list
    local = local_engine(model, params, X, Y)
    n = parameter_count(params)
    need = np.broadcast_to(np.asarray(local.bytes_per_coordinate(model, params, X, Y), dtype=np.int64), (n,))[indices]
    with connected_client(scheduler, client) as active:
        tasks = math.ceil(indices.size / (task_size or default_task_size(indices.size, worker_threads(active))))
        share = (memory_budget or DEFAULT_MEMORY_BUDGET) // threads_per_host(active)
        target = min(share, local.fast_chunk_bytes or share)
        pieces = pieces_by_memory(indices, steps, need, target, local.max_chunk)
        while len(pieces) < PIECES_PER_TASK * tasks and any(piece.size > 1 for piece, _ in pieces):
            pieces = cut(pieces, 2)
        yield from run_tasks(active, model, (params, X, Y), pieces, min(tasks, len(pieces)))


def pieces_by_memory(indices: np.ndarray, steps: np.ndarray, need: np.ndarray, target: int,
                     longest: int | None) -> list[Chunk]:
    """Consecutive pieces whose memory ``need`` fills up to ``target`` bytes (at least one coordinate each)."""
    cumulative = np.concatenate([[0], np.cumsum(need)])
    longest = longest or max(indices.size, 1)
    pieces, start = [], 0
    while start < indices.size:
        fits = int(np.searchsorted(cumulative, cumulative[start] + target, side="right")) - 1
        stop = min(max(fits, start + 1), start + longest, indices.size)
        pieces.append((indices[start:stop], steps[start:stop]))
        start = stop
    return pieces


def cut(chunks: list[Chunk], parts: int) -> list[Chunk]:
    """Each chunk cut into ``parts`` consecutive pieces of near-equal size (no empty ones)."""
    return [(indices, steps) for chunk_indices, chunk_steps in chunks
            for indices, steps in zip(np.array_split(chunk_indices, max(parts, 1)),
                                      np.array_split(chunk_steps, max(parts, 1)))
            if indices.size]


def run_tasks(client: Any, model: Model, point: tuple[Params, Any, Any], pieces: list[Chunk],
              tasks: int) -> Iterator[Chunk]:
    """Scatter the point once, submit the tasks, yield each task's costs as it completes.

    A task the cluster cancels (its worker died, and with it the only copy of the point it reads) is
    submitted again, against the point scattered anew, up to ``RESUBMITS`` times.
    Passes evaluated on the workers are counted there, not in this process:
    the count is recorded here from the costs that come back (two per coordinate).
    """
    from distributed import as_completed

    run = os.urandom(6).hex()
    bounds = np.linspace(0, len(pieces), tasks + 1).round().astype(int)
    dealt = {f"fd-slice-{number}-of-{tasks}-{run}": pieces[bounds[number]:bounds[number + 1]]
             for number in range(tasks)}  # equal counts of equal-memory (~equal-work) pieces
    submitted = Submitted(client, model, point)
    futures = [submitted.submit(task, task_pieces) for task, task_pieces in dealt.items()]
    try:
        completed = as_completed(futures, with_results=True, loop=client.loop)
        for future, costs in completed:
            task = submitted.task_of(future)
            if isinstance(costs, BaseException):  # cancelled, not failed: a failure raises here
                futures.append(submitted.again(future, task, dealt[task]))
                completed.add(futures[-1])
                continue
            record_passes(costs.size)
            yield np.concatenate([indices for indices, _ in dealt[task]]), costs
    finally:
        client.cancel(futures + submitted.points)  # Ctrl-C or an error: nothing is left running


RESUBMITS = 3
"""Times a task the cluster cancelled is submitted again before the run gives up."""


class LostTaskError(GradCheckError):
    """The cluster cancelled one task more than ``RESUBMITS`` times."""


class Submitted:
    """The run's tasks on the cluster: which task each future computes, against which scattered point."""

    def __init__(self, client: Any, model: Model, point: tuple[Params, Any, Any]) -> None:
        self.client, self.model, self.point = client, model, point
        self.points = [self.scatter()]
        self.tasks: dict[Any, tuple[str, int]] = {}  # future key -> (task, index of the point it reads)
        self.tries: dict[str, int] = {}

    def scatter(self) -> Any:
        [scattered] = self.client.scatter([self.point], broadcast=True, hash=False)
        return scattered

    def submit(self, task: str, pieces: list[Chunk]) -> Any:
        tries = self.tries.setdefault(task, 0)
        key = task if not tries else f"{task}-again-{tries}"
        future = self.client.submit(evaluate_pieces, self.model, self.points[-1], pieces, pure=False, key=key)
        self.tasks[future.key] = (task, len(self.points) - 1)
        return future

    def task_of(self, future: Any) -> str:
        return self.tasks[future.key][0]

    def again(self, cancelled: Any, task: str, pieces: list[Chunk]) -> Any:
        """``task`` submitted again after ``cancelled``, against a point scattered anew if it read the latest
        (one new scatter per loss, however many tasks the loss cancelled)."""
        self.tries[task] += 1
        if self.tries[task] > RESUBMITS:
            raise LostTaskError(
                f"the Dask cluster cancelled task {task} {self.tries[task]} times (workers dying, or losing the "
                "point they read); see the workers' and the scheduler's logs, or run with engine='auto' locally.")
        if self.tasks.pop(cancelled.key)[1] == len(self.points) - 1:
            self.points.append(self.scatter())
        return self.submit(task, pieces)


def default_task_size(n: int, threads: int) -> int:
    """Coordinates per task so that each worker thread gets about ``TASKS_PER_THREAD`` tasks."""
    return max(1, math.ceil(n / (TASKS_PER_THREAD * max(threads, 1))))


def threads_per_host(client: Any) -> int:
    """Worker threads on the busiest machine: they share its memory budget."""
    from distributed.comm import get_address_host

    per_host: dict[str, int] = {}
    for address, threads in client.nthreads().items():
        host = get_address_host(address)
        per_host[host] = per_host.get(host, 0) + threads
    return max(per_host.values(), default=1)


def worker_threads(client: Any) -> int:
    """Threads across the cluster's workers right now."""
    return sum(client.nthreads().values())


def validate_options(scheduler: Any, client: Any, task_size: Any) -> None:
    """Refuse a malformed option before any cluster is started or contacted."""
    if scheduler is not None and client is not None:
        raise InputError("give the Dask engine scheduler= or client=, not both.")
    if scheduler is not None and not (isinstance(scheduler, str) and scheduler.strip()):
        raise InputError(f"scheduler must be an address such as 'tcp://10.0.0.5:8786', got {scheduler!r}.")
    if client is not None:
        from distributed import Client

        if not isinstance(client, Client):
            raise InputError(f"client must be a distributed.Client, got {type(client).__name__}.")
    if task_size is not None and not is_count(task_size):
        raise InputError(f"task_size must be a positive number of coordinates, got {task_size!r}.")


@contextmanager
def connected_client(scheduler: str | None, client: Any) -> Iterator[Any]:
    """The client to run on: the one given, one connected to ``scheduler``, or a local cluster's."""
    if client is not None:
        yield client  # the caller's: left open
    elif scheduler is not None:
        with remote_client(scheduler) as remote:
            yield remote
    else:
        with local_cluster_client() as local:
            yield local


@contextmanager
def remote_client(scheduler: str) -> Iterator[Any]:
    """A client of the cluster at ``scheduler``; closing it leaves the cluster running."""
    from distributed import Client

    try:
        remote = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise SchedulerUnreachableError(
            f"could not reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT_S:g} s ({error}); "
            "check the address and that `dask scheduler` is running there, or leave out --scheduler "
            "to run on a local cluster."
        ) from error
    try:
        wait_for_a_worker(remote, scheduler)
        yield remote
    finally:
        remote.close()


def wait_for_a_worker(client: Any, scheduler: str) -> None:
    """Tasks on a cluster without workers would wait forever: give up after the timeout instead."""
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as error:
        raise SchedulerUnreachableError(
            f"the Dask scheduler at {scheduler} has no workers after {CONNECT_TIMEOUT_S:g} s; "
            "start some with `dask worker " + scheduler + "`."
        ) from error


def local_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextmanager
def local_cluster_client(workers: int | None = None) -> Iterator[Any]:
    """A ``LocalCluster`` of single-threaded worker processes on loopback, shut down on exit.

    Worker processes (not threads) so that NumPy's Python-level overhead runs
    in parallel; one thread each because Dask's nanny pins each worker's BLAS
    to one thread, so one worker per core fills the machine.
    """
    from distributed import Client

    cluster = start_local_cluster(workers or local_cores())
    try:
        with Client(cluster, set_as_default=False) as local:
            yield local
    finally:
        cluster.close()


def start_local_cluster(workers: int) -> Any:
    """A ``LocalCluster`` as :func:`local_cluster_options` says, with glibc's own malloc trimming.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers, which
    also freezes glibc's mmap threshold: every array of the engines' chunks
    (about 1 MiB) is then mapped and unmapped afresh, which slows the
    structured engine several times over. Unsetting it restores glibc's
    adaptive default.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(**local_cluster_options(workers))


def local_cluster_options(workers: int) -> dict[str, Any]:
    """``LocalCluster`` settings: worker processes, one thread each, everything on loopback.

    No dashboard; the scheduler's small HTTP server (metrics) still runs, on a
    free loopback port rather than the default 8787 that another cluster may hold.
    """
    return {"n_workers": workers, "threads_per_worker": 1, "processes": True, "host": LOOPBACK,
            "silence_logs": logging.CRITICAL,  # a worker's heartbeat racing the shut-down logs an ERROR
            "dashboard_address": None, "scheduler_kwargs": {"dashboard_address": f"{LOOPBACK}:0"}}


ENGINE = FDEngine(
    name="dask",
    description="Dask distributed: slices of coordinates on a cluster's workers, each running the "
                "fastest local engine (a local cluster unless scheduler=/client= is given)",
    prepare=prepare,
    handles=lambda model, params, X, Y: True,
    bytes_per_coordinate=bytes_per_coordinate,
    requires=("dask", "distributed"),
    map_chunks=map_chunks,
    options=("scheduler", "client", "task_size", "memory_budget"),
)
