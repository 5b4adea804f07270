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
    """Each call's result, in order: up to ``threads`` calls at once, started in the order given (one thread: here,
    one after the other). ``done(i)`` is told as call ``i`` finishes. They gain where their work releases the GIL
    (numpy, torch, scikit-learn's trees); each must give the same result in any thread. On an error the queued calls
    never start and the running ones finish before it is raised; on Ctrl-C it is raised at once, the running calls
    left to end in the background (daemon threads: they hold up neither the caller nor the process's exit, and what
    they compute is dropped)."""
    if threads <= 1 or len(calls) <= 1:
        results = []
        for index, call in enumerate(calls):
            results.append(call())
            if done is not None:
                done(index)
        return results
    import queue
    import threading

    pending = iter(range(len(calls)))
    taking, stop = threading.Lock(), threading.Event()
    finished: queue.SimpleQueue = queue.SimpleQueue()  # (index, result, error) as each call ends

    def work() -> None:
        while not stop.is_set():
            with taking:
                index = next(pending, None)
            if index is None:
                return
            try:
                finished.put((index, calls[index](), None))
            except BaseException as error:  # handed to the caller, which raises it
                finished.put((index, None, error))

    workers = [threading.Thread(target=work, name=f"betavae-{number}", daemon=True)
               for number in range(min(threads, len(calls)))]
    for worker in workers:
        worker.start()
    results: dict[int, T] = {}
    try:
        while len(results) < len(calls):
            index, result, error = finished.get()
            if error is not None:
                raise error
            results[index] = result
            if done is not None:
                done(index)
    except KeyboardInterrupt:
        stop.set()
        raise
    except BaseException:
        stop.set()
        for worker in workers:
            worker.join()
        raise
    return [results[index] for index in range(len(calls))]
