"""Where evaluations run: in this process, on a local process pool (`LocalExecutor`) or on a Ray cluster
(`RayExecutor`). Each runs the same pure task, `evaluate_chunk` (a list of candidate tasks on one target), and
yields each chunk's evaluations as it finishes, holding a bounded number of chunks in flight."""

from __future__ import annotations

import os
from contextlib import nullcontext
from itertools import islice
from typing import Any, Iterable, Iterator

from ..errors import UsageError, param
from ..load.sources import CandidateTask
from ..records import Evaluation
from ..target import Target
from .chain import evaluate_one


Chunk = tuple[int, list[CandidateTask]]  # (its number, its tasks)
Done = tuple[int, str, list[Evaluation]]  # (the chunk's number, the host it ran on, its evaluations in order)


def evaluate_chunk(tasks: list[CandidateTask], target: Target, limits: Any = None, cache: dict | None = None) -> list[Evaluation]:
    """The unit of work every executor runs. `limits` (guard.Limits): the driver's time and memory limits, which
    a worker process does not inherit. The evaluations' inputs are left for the driver to attach (they are the
    target's, the same for every candidate: no need to send them back)."""
    from dataclasses import replace

    from ..load import guard

    with guard.limits(limits.timeout_s, limits.memory_mb) if limits is not None else nullcontext():
        return [replace(evaluate_one(t, target, cache), inputs=[]) for t in tasks]


def host() -> str:
    return os.uname().nodename


class InlineExecutor:
    """This process, one chunk after another (what `evaluate` uses when given no executor); `cache` keeps
    static profiles across calls (a sweep over targets profiles each model once per batch)."""

    name = "inline"
    workers = 1

    def __init__(self, cache: dict | None = None):
        self.cache = cache

    def run(self, chunks: Iterable[Chunk], target: Target, limits: Any = None) -> Iterator[Done]:
        for i, c in chunks:
            yield i, host(), evaluate_chunk(c, target, limits, self.cache)


_WORKER_CONTEXT: list[Any] = []


def _init_worker(target: Target, limits: Any = None, lifeline: Any = None) -> None:
    _WORKER_CONTEXT[:] = [target, limits]
    if lifeline is not None:
        import threading

        threading.Thread(target=_die_with_driver, args=(lifeline,), daemon=True).start()


def _die_with_driver(lifeline: Any) -> None:
    """A pool worker's watchdog: the read end of a pipe whose only write end the driver holds. It reads nothing
    until the driver is gone (killed with SIGKILL too): then it ends this worker at once, whatever the worker is
    doing, and the forkserver and resource tracker, held open only by the driver and the workers, end with it.
    A parent-death signal cannot do this: a worker's parent is the forkserver, which outlives the driver while a
    worker holds its pipe."""
    try:
        lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(1)


def _run_in_worker(chunk: Chunk) -> Done:
    return chunk[0], host(), evaluate_chunk(chunk[1], *_WORKER_CONTEXT)


class LocalExecutor:
    """A process pool on this machine (one worker: this process)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def run(self, chunks: Iterable[Chunk], target: Target, limits: Any = None) -> Iterator[Done]:
        if self.workers == 1:
            yield from InlineExecutor().run(chunks, target, limits)
            return
        import multiprocessing as mp

        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        lifeline, alive = ctx.Pipe(duplex=False)  # the workers read; this process never writes: see _die_with_driver
        try:
            yield from self._pool(ctx, chunks, target, limits, lifeline)
        finally:
            alive.close()  # after the pool has shut down: a worker sees EOF only when the driver is done with it
            lifeline.close()

    def _pool(self, ctx: Any, chunks: Iterable[Chunk], target: Target, limits: Any, lifeline: Any) -> Iterator[Done]:
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(target, limits, lifeline)) as pool:
            pending: set = set()
            it = iter(chunks)
            for c in islice(it, 2 * self.workers):
                pending.add(pool.submit(_run_in_worker, c))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.add(pool.submit(_run_in_worker, nxt))


def evaluate_chunk_remote(chunk: Chunk, target: Target, limits: Any = None) -> Done:
    return chunk[0], host(), evaluate_chunk(chunk[1], target, limits)


class RayExecutor:
    """The same tasks on a Ray cluster: `address` None starts a local one (`ray.init()`), 'auto' joins the
    cluster this machine belongs to, ray://host:port a remote one. A task whose worker dies is retried
    (max_retries); nas-analyzer must be installed on every node."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, max_retries: int = 3):
        try:
            import ray
        except ImportError:
            raise UsageError(f"{param('ray')} needs Ray: pip install 'nas-analyzer[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
            if address is None:
                kwargs["num_cpus"] = workers or os.cpu_count() or 1
            try:
                ray.init(address=address, **kwargs)
            except Exception as e:  # noqa: BLE001 - Ray raises many types for an unreachable cluster
                raise UsageError(f"{param('ray')} {address or '(local)'}: cannot start or join the cluster "
                                 f"({type(e).__name__}: {e})") from None
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self.max_retries = max_retries

    def run(self, chunks: Iterable[Chunk], target: Target, limits: Any = None) -> Iterator[Done]:
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(evaluate_chunk_remote)
        target_ref = ray.put(target)  # sent to each node once
        it = iter(chunks)
        pending = [remote.remote(c, target_ref, limits) for c in islice(it, 2 * self.workers)]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
            nxt = next(it, None)
            if nxt is not None:
                pending.append(remote.remote(nxt, target_ref, limits))
