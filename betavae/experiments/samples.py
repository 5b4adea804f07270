"""App. A.9: samples from the prior through the decoder, β = 4 against β = 1 (a plain VAE)."""

from __future__ import annotations

from dataclasses import dataclass, field

from betavae.experiments.base import Experiment, Result, at_every_budget
from betavae.experiments.common import ExperimentContext, beta_vae_config
from betavae.experiments.runner import RunOutcome, RunSpec
from betavae.runs import FINISHED, load_model
from betavae.viz.grids import draw_samples
from betavae.viz.report import Report


@dataclass(frozen=True)
class SamplesPlan:
    betas: tuple[float, ...] = (4.0, 1.0)
    samples: int = 32  # z ~ N(0, I) decoded per model


@dataclass
class SamplesResult(Result):
    models: list[dict] = field(default_factory=list)  # per β: its run's state and the samples' PNG


class Samples(Experiment):
    name = "samples"
    source = "App. A.9"
    summary = "samples of β = 4 against β = 1"
    result_type = SamplesResult
    plans = at_every_budget(SamplesPlan())
    ground_truth = False

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        return [RunSpec(_name(beta), beta_vae_config(ctx.budget, ctx.dataset, seed=0, beta=beta, device=ctx.device,
                                                     data_path=ctx.data_path)) for beta in ctx.plan.betas]

    def analyse(self, ctx: ExperimentContext, outcomes: dict[str, RunOutcome]) -> SamplesResult:
        models = []
        for beta in ctx.plan.betas:
            outcome = outcomes[_name(beta)]
            entry = {"beta": beta, "state": outcome.state, "message": outcome.message, "samples": None}
            if outcome.state == FINISHED:
                _, model = load_model(outcome.run_dir)
                path = draw_samples(model, ctx.out_dir / f"samples_beta{beta:g}.png", num=ctx.plan.samples, seed=0)
                entry["samples"] = path.name
            models.append(entry)
        return SamplesResult(models)

    def report(self, ctx: ExperimentContext, result: SamplesResult) -> Report:
        report = Report("Samples from β-VAE (β = 4) and VAE (β = 1) — App. A.9")
        report.paragraph(f"{ctx.dataset}, {ctx.budget.steps} training steps per model (budget {ctx.budget.name}). "
                         "Each picture decodes z ~ N(0, I); the paper's point: β = 4 samples are cleaner but "
                         "blurrier, β = 1 sharper but with more implausible shapes.")
        for entry in result.models:
            if entry["samples"] is None:
                report.paragraph(f"β = {entry['beta']:g}: run {entry['state']} ({entry['message']}); no samples.")
            else:
                report.figure(ctx.out_dir / entry["samples"], f"β = {entry['beta']:g}: {ctx.plan.samples} samples")
        return report


def _name(beta: float) -> str:
    return f"beta{beta:g}-seed0"


EXPERIMENT = Samples()
