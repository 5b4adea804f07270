"""Budgets (smoke / cpu / paper) and the pieces every experiment shares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from betavae.config import DEFAULT_THREADS, DataConfig, ModelConfig, ObjectiveConfig, RunConfig, TrainConfig
from betavae.errors import BetaVAEError
from betavae.evaluate import EvalSettings
from betavae.experiments.runner import ExecutorSettings
from betavae.metrics.factor_classification import Table2Settings
from betavae.metrics.higgins import BetaVAESettings, DlibSettings
from betavae.metrics.linear import ClassifierSettings
from betavae.metrics.registry import METRICS, PAPER_METRICS, metric_names
from betavae.models.registry import model_spec
from betavae.threads import available_cores, torch_threads


@dataclass(frozen=True)
class Budget:
    """How much compute an experiment spends; written into every report."""

    name: str
    steps: int  # training steps per model (batch 64)
    model_seeds: int  # paper: 10
    classifier_seeds: int  # paper: 3
    metric_train: int  # points of the disentanglement metric's training set
    metric_test: int
    pairs: int  # L, pairs averaged into one z_diff point
    table2_train: int
    table2_test: int
    workers: int | None  # local training processes at once (None: as many as the cores hold at ``threads`` each)
    checkpoint_every: int
    gan_width: int = 64  # InfoGAN's DCGAN channel base (App. A.2 uses 64); smaller only to keep smoke runs short
    published_sizes: bool = False  # the later metrics at their published sizes (else their smoke sizes)
    threads: int = DEFAULT_THREADS  # torch threads of each run and of each evaluation


BUDGETS = {
    # minutes on a 2-core CPU; what the tests run
    "smoke": Budget("smoke", steps=40, model_seeds=2, classifier_seeds=2, metric_train=400, metric_test=200,
                    pairs=16, table2_train=400, table2_test=200, workers=None, checkpoint_every=20,
                    gan_width=16),
    # the honest best of a 2-core CPU in a few hours
    "cpu": Budget("cpu", steps=3000, model_seeds=3, classifier_seeds=3, metric_train=2000, metric_test=1000,
                  pairs=64, table2_train=5000, table2_test=2500, workers=None, checkpoint_every=500,
                  gan_width=32),
    # the paper's scale (10 model seeds × 3 classifier seeds); a GPU is advised
    "paper": Budget("paper", steps=300_000, model_seeds=10, classifier_seeds=3, metric_train=10_000,
                    metric_test=5000, pairs=64, table2_train=10_000, table2_test=5000, workers=None,
                    checkpoint_every=5000, published_sizes=True),
    # the paper's training length for the β-VAE/VAE pair on one machine, over several sessions: two runs at once, one
    # thread each, every kept checkpoint scored at the paper's sizes while training goes on (training-curve only)
    "long": Budget("long", steps=300_000, model_seeds=2, classifier_seeds=3, metric_train=10_000, metric_test=5000,
                   pairs=64, table2_train=10_000, table2_test=5000, workers=2, checkpoint_every=2000,
                   published_sizes=True, threads=1),
}

def get_budget(name: str, workers: int | None = None, threads: int | None = None) -> Budget:
    """Budget ``name`` with ``workers`` local processes and ``threads`` torch threads per run and evaluation when
    given; workers default to the cores over the threads. (Which budgets an experiment takes: its ``plans``.)"""
    if name not in BUDGETS:
        raise BetaVAEError(f"unknown budget {name!r}; choose one of: {', '.join(BUDGETS)}")
    budget = BUDGETS[name]
    if workers is not None and workers < 1:
        raise BetaVAEError(f"--workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise BetaVAEError(f"--threads must be >= 1, got {threads}")
    threads = threads or budget.threads
    workers = workers or budget.workers or max(1, available_cores() // threads)
    return dataclasses.replace(budget, workers=workers, threads=threads)


DEFAULT_CLASSIFIER = ClassifierSettings()


def paper_settings(L: int = 64, num_train: int = 10_000, num_test: int = 5_000, table2_train: int = 10_000,
                   table2_test: int = 5_000, classifier: ClassifierSettings = DEFAULT_CLASSIFIER,
                   metrics: str | tuple[str, ...] = PAPER_METRICS, smoke: bool = False, **shared) -> EvalSettings:
    """The one place a metric budget becomes :class:`EvalSettings`: the paper's metric and its dlib variant with L
    pairs and num_train / num_test points, Table 2 with its own sizes (both with ``classifier``), and any later
    metric named in ``metrics`` at its published defaults (``smoke``: its smoke sizes). ``shared``: classifier
    seeds, sample seed, device."""
    sizes = {"beta-vae": BetaVAESettings(L=L, num_train=num_train, num_test=num_test, classifier=classifier),
             "beta-vae-dlib": DlibSettings(L=L, num_train=num_train, num_test=num_test),
             "table2": Table2Settings(num_train=table2_train, num_test=table2_test, classifier=classifier)}
    chosen = metric_names(metrics)
    later = [METRICS[name].smoke if smoke else METRICS[name].settings_type() for name in chosen if name not in sizes]
    return EvalSettings(metrics=(*[sizes[name] for name in chosen if name in sizes], *later), **shared)


def eval_settings(budget: Budget, data, metrics: str | tuple[str, ...] = PAPER_METRICS) -> EvalSettings:
    """The budget's metric sizes; Table 2 capped so train and test images stay distinct on small datasets; later
    metrics at their published defaults on the paper budget, at their smoke sizes below it (DCI's boosted trees
    at 10,000 points take about a minute per model on 10 latents, hours on the 4,096 raw pixels)."""
    table2_train = min(budget.table2_train, data.num_images * 2 // 3)
    table2_test = min(budget.table2_test, data.num_images - table2_train)
    return paper_settings(L=budget.pairs, num_train=budget.metric_train, num_test=budget.metric_test,
                          table2_train=table2_train, table2_test=table2_test, metrics=metrics,
                          smoke=not budget.published_sizes, classifier_seeds=tuple(range(budget.classifier_seeds)),
                          threads=budget.threads)


def size_notes(budget: Budget, data) -> list[str]:
    """Each size that ``eval_settings`` had to make smaller than the budget's, with the reason (for the report
    and settings.json, so that the sizes recorded are the sizes used)."""
    used = eval_settings(budget, data, ("table2",)).get("table2")
    sizes = {"table2_train": used.num_train, "table2_test": used.num_test}
    return [f"Table 2 {part} images: {sizes[name]}, not the budget's {getattr(budget, name)}: {data.name} "
            f"has {data.num_images} images and training and test images are kept distinct"
            for part, name in (("training", "table2_train"), ("test", "table2_test"))
            if sizes[name] != getattr(budget, name)]


def beta_vae_config(budget: Budget, dataset: str, seed: int, beta: float | None = None,
                    beta_norm: float | None = None, latents: int | None = None, model_type: str = "beta-vae",
                    device: str = "auto", subset: str | None = None, data_path: str | None = None) -> RunConfig:
    """The paper's 2D-shapes β-VAE run (Table 1 defaults for ``dataset``) at this budget."""
    config = RunConfig(
        model_type=model_type,
        section=model_spec(model_type).section_for_budget(budget.gan_width),
        data=DataConfig(dataset=dataset, path=data_path, subset=subset),
        model=ModelConfig(latents=latents),
        objective=ObjectiveConfig(beta=beta, beta_norm=beta_norm),
        train=TrainConfig(steps=budget.steps, seed=seed, device=device, checkpoint_every=budget.checkpoint_every,
                          log_every=max(1, min(100, budget.steps // 10)), threads=budget.threads),
    )
    return config


@dataclass
class ExperimentContext:
    """What every experiment receives from `betavae reproduce`."""

    out_dir: Path
    budget: Budget
    dataset: str = "dsprites"
    data_path: str | None = None
    device: str = "auto"
    progress: bool = True
    rows: tuple[str, ...] | None = None  # fig6-table / table2: only these rows (keys); None = all
    metrics: tuple[str, ...] = ()  # fig6-table: later metrics scored on the same rows (`--metrics`)
    betas: tuple[float, ...] | None = None  # training-curve: the β curves (None: 1 and 4)
    executor: ExecutorSettings = ExecutorSettings()  # where the training runs go (`--executor`)
    data: Any = None  # the loaded dataset and the experiment's plan for this budget: set by experiments.base.prepare
    plan: Any = None

    @property
    def runs_dir(self) -> Path:
        return self.out_dir / "runs"

    def settings(self) -> dict:
        return {"budget": dataclasses.asdict(self.budget), "dataset": self.dataset, "data_path": self.data_path,
                "device": self.device, "rows": self.rows, "metrics": list(self.metrics), "betas": self.betas,
                "executor": dataclasses.asdict(self.executor)}


def paper_values_apply(data) -> bool:
    """The paper's numbers (Fig. 6, App. A.5) are dSprites numbers: reports compare with them only on dSprites."""
    return data.name.lower().startswith("dsprites")


def load_data(ctx: ExperimentContext):
    from betavae.data.registry import load_dataset

    return load_dataset(ctx.dataset, ctx.data_path, progress=ctx.progress)


def elbo_terms(model, config: RunConfig, data, num_images: int = 2000, seed: int = 1234,
               device: str = "cpu", threads: int | None = None) -> dict[str, float | list[float]]:
    """Reconstruction (−log p(x|z), one z sample) and KL on training images drawn at random, averaged per image,
    computed with ``threads`` torch threads (None: the process's)."""
    with torch_threads(threads):
        return _elbo_terms(model, config, data, num_images, seed, device)


def _elbo_terms(model, config: RunConfig, data, num_images: int, seed: int, device: str) -> dict:
    import numpy as np
    import torch

    from betavae.models.vae import kl_per_latent, reconstruction_nll

    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(data.num_images, size=min(num_images, data.num_images), replace=False))
    generator = torch.Generator(device=device).manual_seed(seed)
    recon, kl = [], []
    with torch.no_grad():
        for start in range(0, len(indices), 500):
            x = torch.from_numpy(data.images(indices[start:start + 500])).float().div(255.0).to(device)
            forward = model(x, generator)
            recon.append(reconstruction_nll(forward.logits, x, config.model.likelihood, config.model.gaussian_std))
            kl.append(kl_per_latent(forward.mean, forward.logvar))
    kl_latents = torch.cat(kl).mean(0)
    return {"reconstruction": float(torch.cat(recon).mean()), "kl": float(kl_latents.sum()),
            "kl_per_latent": kl_latents.tolist(), "images": len(indices)}


def finished_runs(outcomes) -> list:
    return [outcome for outcome in outcomes if outcome.state == "finished"]
