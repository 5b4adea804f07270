"""App. A.7: the constrained view. For each β, the KL reached (ε) and the reconstruction term: G(ε), slope β.

Eq. 2–4 read β as the Lagrange multiplier of the constraint KL ≤ ε. Training at several β traces the
trade-off curve "best reconstruction at capacity ε"; where that curve is smooth its slope −d recon / d ε
should match β between neighbouring points. The report lists that finite-difference slope beside β.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from betavae.experiments.base import Experiment, Result
from betavae.experiments.common import ExperimentContext, beta_vae_config, elbo_terms
from betavae.experiments.runner import RunOutcome, RunSpec
from betavae.runs import FINISHED, load_model
from betavae.viz.canvas import new_figure, save_png
from betavae.viz.report import Report


@dataclass(frozen=True)
class BetaEpsilonPlan:
    betas: tuple[float, ...]
    probe_images: int  # training images the KL and reconstruction are measured on


@dataclass
class BetaEpsilonResult(Result):
    points: list[dict] = field(default_factory=list)  # per β: state, β_norm, KL (ε), reconstruction


class BetaEpsilon(Experiment):
    name = "beta-epsilon"
    source = "App. A.7"
    summary = "KL reached (ε) and reconstruction for a range of β: the trade-off curve G(ε)"
    result_type = BetaEpsilonResult
    plans = {"smoke": BetaEpsilonPlan((0.5, 4.0, 16.0), probe_images=200),
             "cpu": BetaEpsilonPlan((0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0), probe_images=2000),
             "paper": BetaEpsilonPlan((0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0), probe_images=2000)}
    ground_truth = False

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        return [RunSpec(_name(beta), beta_vae_config(ctx.budget, ctx.dataset, seed=0, beta=beta, device=ctx.device,
                                                     data_path=ctx.data_path)) for beta in ctx.plan.betas]

    def analyse(self, ctx: ExperimentContext, outcomes: dict[str, RunOutcome]) -> BetaEpsilonResult:
        points = []
        for beta in ctx.plan.betas:
            outcome = outcomes[_name(beta)]
            if outcome.state != FINISHED:
                points.append({"beta": beta, "state": outcome.state})
                continue
            config, model = load_model(outcome.run_dir)
            terms = elbo_terms(model, config, ctx.data, num_images=ctx.plan.probe_images, threads=ctx.budget.threads)
            points.append({"beta": beta, "beta_norm": config.objective.beta_norm, "state": FINISHED, **terms})
        return BetaEpsilonResult(points)

    def report(self, ctx: ExperimentContext, result: BetaEpsilonResult) -> Report:
        done = [point for point in result.points if point["state"] == FINISHED]
        report = Report("β vs ε: the trade-off curve G(ε) — App. A.7")
        report.paragraph(f"{ctx.dataset}, one seed per β, {ctx.budget.steps} steps each (budget {ctx.budget.name}). "
                         "ε is the KL reached (nats, summed over latents); reconstruction is −log p(x|z) summed over "
                         "pixels; both averaged over random training images (one z sample each).")
        rows = []
        for index, point in enumerate(done):
            slope = None
            if index > 0 and done[index - 1]["kl"] != point["kl"]:
                previous = done[index - 1]
                slope = -(point["reconstruction"] - previous["reconstruction"]) / (point["kl"] - previous["kl"])
            rows.append([point["beta"], point["beta_norm"], point["kl"], point["reconstruction"],
                         point["reconstruction"] + point["kl"], slope])
        report.table(["β", "β_norm", "ε = KL", "reconstruction", "−ELBO (β = 1)", "slope −Δrecon/Δε vs previous"],
                     rows)
        report.paragraph("Reading: as β grows the model is held to a smaller KL budget ε and pays for it in "
                         "reconstruction. The finite-difference slope between neighbouring β lies between them when "
                         "the optimiser reached each constrained optimum; short runs make it noisy.")
        skipped = [point for point in result.points if point["state"] != FINISHED]
        if skipped:
            report.paragraph(f"{len(skipped)} run(s) did not finish: " +
                             ", ".join(f"β = {p['beta']:g} ({p['state']})" for p in skipped))
        if done:
            report.figure(_plot(done, ctx.out_dir / "beta_epsilon.png"),
                          "G(ε) with β at each point; both terms vs β")
        return report


def _name(beta: float) -> str:
    return f"beta{beta:g}-seed0"


def _plot(points: list[dict], path: Path) -> Path:
    figure = new_figure(10, 3.8)
    left, right = figure.subplots(1, 2)
    kl = [point["kl"] for point in points]
    recon = [point["reconstruction"] for point in points]
    betas = [point["beta"] for point in points]
    left.plot(kl, recon, "o-")
    for x, y, beta in zip(kl, recon, betas):
        left.annotate(f"β={beta:g}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    left.set_xlabel("ε = KL(q(z|x) || p(z)) (nats)")
    left.set_ylabel("reconstruction −log p(x|z) (nats)")
    left.set_title("trade-off curve G(ε)")
    right.semilogx(betas, kl, "o-", label="KL (ε)")
    right.set_xlabel("β")
    right.set_ylabel("KL (nats)")
    twin = right.twinx()
    twin.semilogx(betas, recon, "s--", color="tab:red", label="reconstruction")
    twin.set_ylabel("reconstruction (nats)", color="tab:red")
    right.set_title("ε and reconstruction against β")
    return save_png(figure, path)


EXPERIMENT = BetaEpsilon()
