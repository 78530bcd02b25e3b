"""Executors: run one function over many tasks and yield results as they finish.

The runner calls every executor the same way (``executor.map_unordered(fn, tasks)``), so the
serial, local-process and Ray paths share all the sweep logic. ``fn`` should catch its own
errors and return them as data; an exception that still escapes is yielded as the third item
so the runner can record it as a failure.

A worker process that dies (killed by the OS for memory, a segfault in native code, a lost Ray
node) does not end the sweep: its tasks are re-queued on a fresh worker, up to ``max_retries``
times per task, after which the task is yielded with a :class:`WorkerDiedError`. When the
consumer stops (Ctrl-C, SIGTERM turned into KeyboardInterrupt, an error), the worker processes
are terminated, never left running; they also exit by themselves if their parent dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray", "serial")

#: times a task may be in flight in a worker that dies before the task is given up
MAX_WORKER_RETRIES = 2


class WorkerDiedError(RuntimeError):
    """The worker process running a task died again and again (the task is not retried)."""


class Executor(Protocol):
    """Runs ``fn`` over ``tasks``; yields ``(task, result, None)`` or ``(task, None, error)``."""

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Sequence[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]:
        """Run ``fn`` on every task; yield each outcome as it finishes (any order)."""
        ...

    @property
    def workers(self) -> int:
        """How many tasks run at the same time."""
        ...


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """Torch threads for each of ``workers`` processes so they do not oversubscribe the CPUs."""
    cpus = cpus if cpus is not None else cpu_count()
    return max(1, cpus // max(1, workers))


@dataclass(frozen=True)
class SerialExecutor:
    """Runs tasks one after another in this process (debugging, tests, a single run)."""

    @property
    def workers(self) -> int:
        """Always one."""
        return 1

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Sequence[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]:
        """Yield results in task order; exceptions are yielded, not raised."""
        for task in tasks:
            try:
                yield task, fn(task), None
            except Exception as exc:  # noqa: BLE001 - handed to the caller as data
                yield task, None, exc


def _exit_when_orphaned(parent: int, interval_s: float = 0.5) -> None:
    """Worker thread: end the process when its parent is gone (e.g. the sweep was SIGKILLed),
    so no worker outlives its sweep."""
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(interval_s)


def _worker_init(parent: int) -> None:
    """First thing in every local worker: leave Ctrl-C to the parent (which stops the
    workers) and watch the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while worker processes start: they inherit the setting, so a Ctrl-C
    never prints a KeyboardInterrupt traceback from a worker that is still starting."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _stop_pool(pool: ProcessPoolExecutor, kill: bool) -> None:
    """Shut ``pool`` down; with ``kill`` terminate its workers instead of waiting for them."""
    if not kill:
        pool.shutdown(wait=True)
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(1)
    with contextlib.suppress(Exception):
        pool.shutdown(wait=True)  # the pool's manager thread closes its queues: nothing leaks


@dataclass(frozen=True)
class LocalExecutor:
    """A pool of worker processes on this machine (``spawn``: safe with torch's threads).

    At most ``workers`` tasks are in flight, so a killed sweep loses at most that many runs.
    A dead worker's tasks are re-queued on a new pool (at most ``max_retries`` times each).
    """

    n_workers: int = 0  # 0: one per CPU
    start_method: str = "spawn"
    max_retries: int = MAX_WORKER_RETRIES

    @property
    def workers(self) -> int:
        """Number of worker processes."""
        return self.n_workers if self.n_workers > 0 else cpu_count()

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Sequence[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]:
        """Yield results as workers finish them (see the module docstring for dead workers)."""
        import multiprocessing as mp

        if not tasks:
            return
        ctx = mp.get_context(self.start_method)
        n = min(self.workers, len(tasks))
        todo: deque[tuple[int, T]] = deque(enumerate(tasks))
        deaths = [0] * len(tasks)
        pools = 0
        while todo:
            pools += 1
            if pools > 1 + self.max_retries * len(tasks):  # each restart follows a death
                raise RuntimeError("worker processes keep dying; stopping the local executor")
            pool = ProcessPoolExecutor(
                max_workers=n, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
            )
            pending: dict[Future[Any], tuple[int, T]] = {}
            broken = clean = False
            try:
                while (todo and not broken) or pending:
                    while todo and not broken and len(pending) < n:
                        try:
                            with _sigint_ignored():
                                fut = pool.submit(fn, todo[0][1])
                        except BrokenProcessPool:
                            broken = True
                            break
                        pending[fut] = todo.popleft()
                    if not pending:
                        break
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i, task = pending.pop(fut)
                        exc = fut.exception()
                        if isinstance(exc, BrokenProcessPool):
                            broken = True
                            deaths[i] += 1
                            if deaths[i] > self.max_retries:
                                yield (
                                    task,
                                    None,
                                    WorkerDiedError(
                                        f"the worker process died {deaths[i]} times while running "
                                        "this task (killed for memory? a crash in native code?); "
                                        "not retried in this sweep"
                                    ),
                                )
                            else:
                                todo.append((i, task))
                        elif exc is not None:
                            yield task, None, exc
                        else:
                            yield task, fut.result(), None
                clean = True
            finally:
                _stop_pool(pool, kill=not clean)
            if broken and todo:
                log.warning(
                    "a worker process died; %d task(s) left, continuing with new workers "
                    "(the tasks it was running are re-queued, at most %d times each)",
                    len(todo),
                    self.max_retries,
                )


def _call(fn: Callable[[T], R], task: T) -> R:
    """Apply ``fn`` to ``task`` (Ray remote functions must be plain functions, not partials)."""
    return fn(task)


@dataclass(frozen=True)
class RayExecutor:
    """Tasks on a Ray cluster (``address``) or on a local Ray instance (``address=None``).

    A local instance is started with ``n_workers`` CPUs and shut down afterwards; an existing
    cluster is only connected to. Every task reserves ``cpus_per_task`` CPUs. ``fn`` and the
    tasks must be importable/picklable on the workers (install spikeenergy on every node).
    The benchmark's run function imports the suite's user ``modules`` on the worker before each
    run (:func:`spikeenergy.bench.runner.execute`): on a cluster, module names must be
    importable and ``.py`` paths must exist on every node.
    """

    address: str | None = None
    n_workers: int = 0  # local instance: CPUs to give Ray (0: all)
    cpus_per_task: float = 1.0
    max_retries: int = MAX_WORKER_RETRIES  # re-runs of a task whose worker died (Ray's own)

    @property
    def workers(self) -> int:
        """CPUs per task-slot view: how many tasks may run at once (local instance)."""
        return self.n_workers if self.n_workers > 0 else cpu_count()

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Sequence[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]:
        """Submit every task, then yield results as they arrive."""
        try:
            import ray
        except ImportError as exc:
            raise ValueError("--executor ray needs Ray: pip install 'spikeenergy[ray]'") from exc
        if not tasks:
            return
        started = not ray.is_initialized()
        if started:
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address is None:
                kw["num_cpus"] = self.workers
            ray.init(address=self.address, **kw)
        refs: dict[Any, T] = {}
        try:
            # max_retries: Ray re-runs a task whose worker process died (not a task that
            # raised: fn returns its errors as data)
            remote: Any = ray.remote(num_cpus=self.cpus_per_task, max_retries=self.max_retries)(
                _call
            )
            fn_ref = ray.put(fn)  # shipped once, not once per task
            refs = {remote.remote(fn_ref, t): t for t in tasks}
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    task = refs.pop(ref)
                    result: R | None = None
                    error: BaseException | None = None
                    try:
                        result = ray.get(ref)
                    except Exception as err:  # noqa: BLE001 - a lost worker or task error
                        error = err
                    yield task, result, error
        finally:
            for ref in list(refs):
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def make_executor(kind: str = "local", workers: int = 0, address: str | None = None) -> Any:
    """The executor named ``kind`` ("local", "ray" or "serial")."""
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(address=address, n_workers=workers)
    if kind == "serial":
        return SerialExecutor()
    raise ValueError(f"executor {kind!r} is not supported; use one of {', '.join(EXECUTORS)}")
