"""Torch's intra-op thread count, set for the length of a run or an evaluation and then given back; independent
calls side by side in the threads an evaluation may use."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """``threads`` torch threads inside (None: as they are); the process's own setting again afterwards (a run or an
    evaluation may happen in the caller's process)."""
    import torch

    previous = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(previous)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the platform has one)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def side_by_side(calls: Sequence[Callable[[], T]], threads: int,
                 done: Callable[[int], None] | None = None) -> list[T]:
    """Each call's result, in order: up to ``threads`` calls at once in a thread pool, started in the order given
    (one thread: here, one after the other). ``done(i)`` is told as call ``i`` finishes. They gain where their work
    releases the GIL (numpy, torch, scikit-learn's trees); each must give the same result in any thread. On an error
    or Ctrl-C the queued calls never start and the running ones finish before it is raised."""
    if threads <= 1 or len(calls) <= 1:
        results = []
        for index, call in enumerate(calls):
            results.append(call())
            if done is not None:
                done(index)
        return results
    from concurrent.futures import ThreadPoolExecutor, as_completed

    pool = ThreadPoolExecutor(max_workers=min(threads, len(calls)), thread_name_prefix="betavae")
    try:
        futures = {pool.submit(call): index for index, call in enumerate(calls)}
        for future in as_completed(futures):
            future.result()  # the first error, as soon as it happens
            if done is not None:
                done(futures[future])
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
