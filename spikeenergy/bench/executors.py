"""Executors: run one function over many tasks and yield results as they finish.

The runner calls every executor the same way (``executor.map_unordered(fn, tasks)``), so the
serial, local-process and Ray paths share all the sweep logic. ``fn`` should catch its own
errors and return them as data; an exception that still escapes (a crashed worker process, a
lost Ray node) is yielded as the third item so the runner can record it as a failure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray", "serial")


class Executor(Protocol):
    """Runs ``fn`` over ``tasks``; yields ``(task, result, None)`` or ``(task, None, error)``."""

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Sequence[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]: ...

    @property
    def workers(self) -> int: ...


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


@dataclass(frozen=True)
class LocalExecutor:
    """A pool of worker processes on this machine (``spawn``: safe with torch's threads).

    At most ``workers`` tasks are in flight, so a killed sweep loses at most that many runs.
    """

    n_workers: int = 0  # 0: one per CPU
    start_method: str = "spawn"

    @property
    def workers(self) -> int:
        """Number of worker processes."""
        return self.n_workers if self.n_workers > 0 else cpu_count()

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Sequence[T]
    ) -> Iterator[tuple[T, R | None, BaseException | None]]:
        """Yield results as workers finish them."""
        import multiprocessing as mp

        if not tasks:
            return
        ctx = mp.get_context(self.start_method)
        n = min(self.workers, len(tasks))
        todo = list(tasks)
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            pending: dict[Future[Any], T] = {}
            broken = False
            try:
                while todo or pending:
                    while todo and len(pending) < n and not broken:
                        try:
                            fut = pool.submit(fn, todo[0])
                        except BrokenProcessPool:
                            broken = True  # a worker died: finish what is pending, then stop
                            break
                        pending[fut] = todo.pop(0)
                    if not pending:
                        break
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        task = pending.pop(fut)
                        exc = fut.exception()
                        yield (task, None, exc) if exc is not None else (task, fut.result(), None)
            finally:
                for fut in pending:
                    fut.cancel()
        if broken:
            raise RuntimeError(
                f"a worker process died; {len(todo)} run(s) were not started. Rerun the same "
                "command to resume (if you call the library from a script, guard it with "
                "`if __name__ == '__main__':`; workers are started with 'spawn')"
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
    """

    address: str | None = None
    n_workers: int = 0  # local instance: CPUs to give Ray (0: all)
    cpus_per_task: float = 1.0

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
            remote: Any = ray.remote(num_cpus=self.cpus_per_task, max_retries=0)(_call)
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
