"""The nine representations of the Fig. 6 table (and Table 2), trained or fitted, each scored by the same code.

Every row has model seeds (trained runs, PCA/ICA fit samples, random initialisations; the ground truth and
raw pixels are deterministic, so one) and every model is scored with the budget's classifier seeds.
Evaluations are stored beside what they score (a run's ``eval.json``, or ``evals/ROW-seedK.json``) and are
never recomputed for the same settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from betavae.data.ground_truth import GroundTruthData
from betavae.errors import BetaVAEError
from betavae.evaluate import evaluate_cached, metric_result
from betavae.experiments.common import ExperimentContext, beta_vae_config, eval_settings
from betavae.experiments.runner import EvalJob, RunOutcome, RunSpec, evaluate_sweep
from betavae.metrics.protocol import seed_protocol
from betavae.metrics.registry import PAPER_METRICS
from betavae.runs import DIVERGED


@dataclass(frozen=True)
class Row:
    label: str
    key: str  # file-name friendly
    paper_mean: float | None  # Fig. 6 (as widely cited), percent
    paper_std: float | None
    fitted: str | None = None  # a baselines.registry name, fitted in place
    model_type: str | None = None  # or a model trained through train.py
    beta: float | None = None
    deterministic: bool = False  # one model only (no seed changes it)
    short: str | None = None  # a figure's tick label, where ``label`` is too long for one

    @property
    def tick(self) -> str:
        return self.short or self.label


# Fig. 6 (left), the paper's values beside each row; never used as bounds in tests.
FIG6_ROWS = (
    Row("Ground truth", "ground-truth", 100.0, None, fitted="ground-truth", deterministic=True),
    Row("Raw pixels", "raw-pixels", 45.75, 0.8, fitted="raw-pixels", deterministic=True),
    Row("PCA", "pca", 84.9, 0.4, fitted="pca"),
    Row("ICA (shape pairs, App. A.3)", "ica", 42.03, 10.6, fitted="ica-pairs", short="ICA (pairs)"),
    Row("DC-IGN", "dcign", 99.3, 0.1, model_type="dcign"),
    Row("InfoGAN", "infogan", 73.5, 0.9, model_type="infogan"),
    Row("VAE untrained", "untrained-vae", 44.14, 2.5, fitted="untrained-vae"),
    Row("VAE", "vae", 61.58, 0.5, model_type="vae"),
    Row("β-VAE (β = 4)", "beta-vae-b4", 99.23, 0.1, model_type="beta-vae", beta=4.0),
)
# Not in the paper's table, on request (--rows): PCA on raw pixels, ICA fitted once on all shapes, and the β-VAE's
# successors at their published defaults (README, "Models"), trained like the paper's rows.
EXTRA_ROWS = (
    Row("PCA (raw, not whitened)", "pca-raw", None, None, fitted="pca-raw", short="PCA (raw)"),
    Row("ICA (one fit, all shapes)", "ica-full", None, None, fitted="ica", short="ICA (one fit)"),
    Row("FactorVAE (Kim & Mnih 2018)", "factor-vae", None, None, model_type="factor-vae", short="FactorVAE"),
    Row("β-TCVAE (Chen et al. 2018)", "beta-tcvae", None, None, model_type="beta-tcvae", short="β-TCVAE"),
    Row("DIP-VAE-I (Kumar et al. 2018)", "dip-vae-1", None, None, model_type="dip-vae-1", short="DIP-VAE-I"),
    Row("DIP-VAE-II (Kumar et al. 2018)", "dip-vae-2", None, None, model_type="dip-vae-2", short="DIP-VAE-II"),
)


@dataclass
class RowResult:
    row: Row
    num_classifier_seeds: int
    evaluations: list[dict | None] = field(default_factory=list)  # one per model seed; None = diverged
    diverged: int = 0

    def metric_scores(self) -> list[list[float] | None]:
        return [None if e is None else metric_result(e, "beta-vae")["scores"] for e in self.evaluations]

    def protocol(self) -> dict:
        return seed_protocol(self.metric_scores(), num_classifier_seeds=self.num_classifier_seeds)


def select_rows(keys: tuple[str, ...] | None) -> tuple[Row, ...]:
    if keys is None:
        return FIG6_ROWS
    rows = FIG6_ROWS + EXTRA_ROWS
    known = [row.key for row in rows]
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise BetaVAEError(f"unknown row(s) {unknown}; choose from: {', '.join(known)}")
    return tuple(row for row in rows if row.key in keys)


def row_specs(ctx: ExperimentContext, rows: tuple[Row, ...]) -> list[RunSpec]:
    """The training runs of the trained rows: one per model seed."""
    return [RunSpec(f"{row.key}-seed{seed}", beta_vae_config(ctx.budget, ctx.dataset, seed=seed, beta=row.beta,
                                                            model_type=row.model_type, device=ctx.device,
                                                            data_path=ctx.data_path))
            for row in rows if row.model_type for seed in range(ctx.budget.model_seeds)]


def selected_rows(ctx: ExperimentContext) -> tuple[Row, ...]:
    """The rows asked for (``--rows``, else the paper's nine), as they can be computed on the context's data."""
    return tuple(row_for_data(row, ctx.data) for row in select_rows(ctx.rows))


def score_rows(ctx: ExperimentContext, rows: tuple[Row, ...], outcomes: dict[str, RunOutcome]) -> list[RowResult]:
    """Every model of every row evaluated (trained runs from ``outcomes``; fitted baselines fitted in place)."""
    data, budget = ctx.data, ctx.budget
    settings = eval_settings(budget, data, PAPER_METRICS + ctx.metrics)
    scored = [outcome for outcome in outcomes.values() if outcome.state != DIVERGED]
    evaluations = dict(zip((outcome.name for outcome in scored),
                           evaluate_sweep([EvalJob(outcome.run_dir) for outcome in scored], data, settings, ctx.device,
                                          ctx.progress, ctx.executor)))
    results = []
    for row in rows:
        result = RowResult(row, len(settings.classifier_seeds))
        for seed in range(1 if row.deterministic else budget.model_seeds):
            if row.model_type:
                name = f"{row.key}-seed{seed}"
                result.evaluations.append(evaluations.get(name))
                result.diverged += name not in evaluations
            else:
                path = ctx.out_dir / "evals" / f"{row.key}-seed{seed}.json"
                result.evaluations.append(evaluate_cached(_fitted(row.fitted, data, seed), data, settings, path,
                                                          progress=ctx.progress,
                                                          subject={"representation": row.fitted, "seed": seed}))
        results.append(result)
    return results


def row_for_data(row: Row, data: GroundTruthData) -> Row:
    """The row as it can be computed on ``data``: the shape-pair ICA protocol needs shapes to pair; on data
    without them (a user's or a synthetic set) the row falls back to one ICA on all images, and says so."""
    from betavae.baselines.registry import has_shape_pairs

    if row.fitted == "ica-pairs" and not has_shape_pairs(data):
        return replace(row, label="ICA (one fit: the data has no 'shape' factor for App. A.3's pairs)", fitted="ica",
                       short="ICA (one fit)")
    return row


def _fitted(name: str, data: GroundTruthData, seed: int) -> Callable:
    from betavae.baselines.registry import make_representation

    return lambda: make_representation(name, data, seed)
