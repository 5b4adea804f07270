"""DCI's per-factor boosted trees: one after another, side by side in threads (the library's way), or side by side
in spawned processes, timed in one run so that the ratios are read off it.

The codes are synthetic with dSprites' shape (10 dimensions; factors of 3, 6, 40, 32 and 32 classes, the last four
read noisily by two dimensions each): the trees' cost depends on the points, dimensions and classes, not on where
the codes came from. Each way's wall and CPU seconds are printed (CPU / wall: the cores it kept busy), with the load.
The three give the same importances bit for bit, checked here.

    .venv/bin/python benchmarks/dci_parallel.py --num-train 2000 --stages 20     # a short run
    .venv/bin/python benchmarks/dci_parallel.py                                   # disentanglement_lib's sizes
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from betavae.metrics.dci import DCISettings, boosted_trees, fit_factors
from betavae.threads import available_cores

CLASSES = (3, 6, 40, 32, 32)  # dSprites' shape, scale, orientation, pos_x, pos_y


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def in_processes(x_train, y_train, x_test, y_test, settings: DCISettings, workers: int) -> list:
    """The same fits in ``workers`` spawned processes, the most classes first (as :func:`fit_factors` orders)."""
    order = sorted(range(y_train.shape[1]), key=lambda k: -len(np.unique(y_train[:, k])))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {k: pool.submit(boosted_trees, x_train, y_train[:, k], x_test, y_test[:, k], settings, 0)
                   for k in order}
        return [futures[k].result() for k in range(len(order))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-train", type=int, default=10_000)
    parser.add_argument("--num-test", type=int, default=5_000)
    parser.add_argument("--stages", type=int, default=100)
    parser.add_argument("--workers", type=int, default=min(len(CLASSES), available_cores()))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    points = args.num_train + args.num_test
    y = np.stack([rng.integers(0, size, points) for size in CLASSES], axis=1)
    scaled = y / np.asarray(CLASSES)
    x = np.concatenate([scaled[:, 1:], scaled[:, 1:] ** 2], axis=1) + rng.normal(scale=0.1, size=(points, 8))
    x = np.concatenate([x, rng.normal(size=(points, 2))], axis=1)  # 10 dimensions; shape read by none
    split = (x[:args.num_train], y[:args.num_train], x[args.num_train:], y[args.num_train:])
    settings = DCISettings(num_train=args.num_train, num_test=args.num_test, stages=args.stages)

    ways = {"serial (1 thread)": lambda: fit_factors(*split, settings, 0, threads=1),
            f"threads ({args.workers})": lambda: fit_factors(*split, settings, 0, threads=args.workers),
            f"processes ({args.workers}, spawned)": lambda: in_processes(*split, settings, args.workers)}
    print(f"{args.num_train} train / {args.num_test} test points, {args.stages} stages, classes {CLASSES}; "
          f"{available_cores()} cores")
    results, walls = [], []
    for name, run in ways.items():
        wall, cpu = time.perf_counter(), cpu_seconds()
        results.append(run())
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        walls.append(wall)
        print(f"  {name:<24} {wall:7.1f} s wall, {cpu:7.1f} s CPU ({cpu / wall:.2f} cores busy), "
              f"{walls[0] / wall:.2f}x serial; load {os.getloadavg()[0]:.2f}")
    same = all(np.array_equal(one[0], other[0]) and one[1:] == other[1:]
               for result in results[1:] for one, other in zip(results[0], result))
    print(f"importances and accuracies equal bit for bit: {same}")


if __name__ == "__main__":
    main()
