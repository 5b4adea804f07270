"""Wall time of a 12-run smoke sweep, serial, on the local process pool and on Ray; each executor's overhead per run.

    python benchmarks/sweep_overhead.py [--runs 12] [--workers 2] [--dataset synthetic-squares]

Every executor trains the same runs (the smoke budget's β-VAE, seeds 0..runs-1, one torch thread each) into a fresh
folder. A run's own time is what its training took (from its session's start in provenance.json to its last
status.json write); an executor's overhead per run is what its wall time adds to that, per worker:
``(wall × workers − Σ own time) / runs`` (starting processes or Ray workers, loading data, handing work over).
The Ray figure includes starting and stopping a local Ray instance, as `reproduce --executor ray` does.
Goals (issue 12): Ray adds ≤ 2 s per run; the runs on 2 workers take ≤ 0.6× the serial time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from betavae.experiments.common import beta_vae_config, get_budget
from betavae.experiments.runner import ExecutorSettings, RunSpec, run_sweep


def own_seconds(run_dir: Path) -> float:
    """From the start of the run's (only) training session to its last status write."""
    session = json.loads((run_dir / "provenance.json").read_text())["sessions"][0]
    return (run_dir / "status.json").stat().st_mtime - session["time"]


def timed_sweep(specs: list[RunSpec], root: Path, workers: int, executor: ExecutorSettings) -> tuple[float, float]:
    """(wall seconds, Σ the runs' own seconds); the folder is removed afterwards (smoke checkpoints are large)."""
    start = time.perf_counter()
    outcomes = run_sweep(specs, root, workers=workers, progress=False, executor=executor)
    wall = time.perf_counter() - start
    assert all(outcome.state == "finished" for outcome in outcomes), outcomes
    total_own = sum(own_seconds(outcome.run_dir) for outcome in outcomes)
    shutil.rmtree(root)
    return wall, total_own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dataset", default="synthetic-squares")
    args = parser.parse_args()
    budget = get_budget("smoke", threads=1)  # one thread per run, so that 2 workers fill 2 cores
    specs = [RunSpec(f"seed{seed}", beta_vae_config(budget, args.dataset, seed=seed, device="cpu"))
             for seed in range(args.runs)]
    print(f"{args.runs} smoke runs ({budget.steps} steps, {specs[0].config.model_type} on {args.dataset}, "
          f"1 torch thread each), {args.workers} workers")
    plans = [("serial (local, 1 worker)", 1, ExecutorSettings()),
             (f"local pool, {args.workers} workers", args.workers, ExecutorSettings())]
    try:
        import ray

        on_ray = ExecutorSettings("ray")  # one CPU per task: the runs' thread count
        plans.append((f"ray, local instance, {args.workers} CPUs", args.workers, on_ray))
    except ImportError:
        ray = None
        print("ray: not installed (pip install -e '.[ray]'), not measured")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as folder:
        for index, (label, workers, executor) in enumerate(plans):
            started = time.perf_counter()
            if executor.kind == "ray":  # a local instance of exactly `workers` CPUs, its start and stop timed too
                ray.init(num_cpus=workers, include_dashboard=False, logging_level="WARNING")
            startup = time.perf_counter() - started
            try:
                wall, total_own = timed_sweep(specs, Path(folder) / str(index), workers, executor)
            finally:
                if executor.kind == "ray":
                    stopping = time.perf_counter()
                    ray.shutdown()
                    startup += time.perf_counter() - stopping
            wall += startup
            rows.append((label, wall, (wall * workers - total_own) / args.runs, total_own / args.runs))
            print(f"  done: {label} ({wall:.1f} s" + (f", of which {startup:.1f} s starting and stopping Ray)"
                                                      if executor.kind == "ray" else ")"), flush=True)
    serial = rows[0][1]
    print(f"\n{'executor':<34} {'wall s':>8} {'× serial':>9} {'own s/run':>10} {'overhead s/run':>15}")
    for label, wall, overhead, own in rows:
        print(f"{label:<34} {wall:>8.1f} {wall / serial:>9.2f} {own:>10.2f} {overhead:>15.2f}")
    for label, wall, overhead, _ in rows[1:]:
        kind = label.split(",")[0]
        print(f"{kind}: {wall / serial:.2f}× serial (goal ≤ 0.6×)"
              + (f", {overhead:.2f} s overhead per run (goal ≤ 2 s)" if kind == "ray" else ""))


if __name__ == "__main__":
    main()
