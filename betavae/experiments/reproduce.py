"""`betavae reproduce NAME`: one paper experiment → ``DIR/report.md`` (+ report.html, figures, results)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from betavae.errors import BetaVAEError
from betavae.experiments.base import OPTIONS, run_experiment
from betavae.experiments.common import BUDGETS, ExperimentContext, get_budget
from betavae.experiments.ray_executor import import_ray, ray_session
from betavae.experiments.registry import all_experiments, get_experiment
from betavae.experiments.runner import ExecutorSettings
from betavae.io import ensure_writable_dir
from betavae.metrics.registry import metric_names


def reproduce(name: str, budget: str = "smoke", out_dir: str | Path | None = None, dataset: str = "dsprites",
              data_path: str | None = None, device: str = "auto", workers: int | None = None,
              progress: bool = True, rows: str | None = None, metrics: str | None = None,
              betas: str | None = None, executor: str = "local", address: str | None = None,
              cpus_per_run: float | None = None, gpus_per_run: float | None = None,
              threads: int | None = None) -> Path:
    """Run experiment ``name`` at ``budget`` into ``out_dir`` (default ``reproductions/NAME-BUDGET[-DATASET]``);
    ``metrics`` (fig6-table): later metrics to score the same rows with, e.g. ``"all"`` or ``"mig,dci"``;
    ``executor``: where the training runs go, ``"local"`` (``workers`` processes; evaluations in this one) or
    ``"ray"`` (a task for each training run and each evaluation, of ``cpus_per_run`` / ``gpus_per_run``, on the
    Ray cluster at ``address``, else a local Ray instance); ``threads``: the torch threads of every run and
    evaluation (default: the budget's), the same whatever the executor, so that both give the same numbers."""
    executor_settings = ExecutorSettings(executor, address, cpus_per_run, gpus_per_run)
    if executor == "ray":
        if workers is not None:
            raise BetaVAEError("--workers is for --executor local; with ray, the cluster's resources divided by "
                               "--cpus-per-run / --gpus-per-run decide how many runs train at once")
        import_ray()  # before any work: say now if it is missing
    experiment = get_experiment(name)
    given = {"rows": rows, "metrics": metrics, "betas": betas}
    for option in OPTIONS:
        if given[option] and option not in experiment.options:
            takers = [other.name for other in all_experiments() if option in other.options]
            raise BetaVAEError(f"--{option} is for {' and '.join(takers)} only; {name} does not take it")
    if budget in BUDGETS and budget not in experiment.plans:
        takers = [other.name for other in all_experiments() if budget in other.plans]
        raise BetaVAEError(f"budget {budget!r} is for {' and '.join(takers)} only; {name} takes "
                           f"{' | '.join(experiment.plans)}")
    default_name = f"{name}-{budget}" + ("" if dataset == "dsprites" else f"-{dataset}")
    out = ensure_writable_dir(out_dir or Path("reproductions") / default_name)
    context = ExperimentContext(out_dir=out, budget=get_budget(budget, workers, threads), dataset=dataset,
                                data_path=data_path, device=device, progress=progress,
                                rows=tuple(rows.split(",")) if rows else None,
                                metrics=metric_names(metrics) if metrics else (), betas=_betas(betas),
                                executor=executor_settings)
    with ray_session(address) if executor == "ray" else contextlib.nullcontext():  # one Ray for all its sweeps
        return run_experiment(experiment, context)


def _betas(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        betas = tuple(float(item) for item in text.split(","))
    except ValueError:
        raise BetaVAEError(f"--betas takes numbers separated by commas, e.g. 1,4; got {text!r}") from None
    if any(not beta >= 0 for beta in betas) or 1.0 not in betas or 4.0 not in betas:
        raise BetaVAEError(f"--betas must be >= 0 and include 1 and 4 (the curves the gap is measured between); "
                           f"got {text!r}")
    return betas
