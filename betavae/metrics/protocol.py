"""The paper's seed protocol for the disentanglement metric (§4, Fig. 6).

Each model is trained with several seeds (paper: 10) and each trained model is scored with several
classifier seeds (paper: 3); of all the resulting scores the worst 50% are discarded and the mean ± std
of the rest is reported. The rule, made exact:

* all scores are pooled (models × classifier seeds, model-major order);
* a diverged score (``None`` or NaN; a whole model given as ``None`` counts as diverged for every
  classifier seed) ranks below every finite score, so diverged runs are discarded first;
* of ``n`` scores the best ``ceil(n * keep_fraction)`` are kept: with an odd count the middle score is
  kept (5 -> 3 kept, 2 discarded);
* ties are broken by input order (the earlier score is kept); tied scores have equal values, so the
  tie rule changes only ``kept_indices``, never the mean or std;
* std is the population standard deviation (ddof = 0) of the kept scores;
* if more runs diverged than are discarded, ``mean`` and ``std`` are ``None`` and ``note`` says why.

The full list is always returned beside the filtered figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from betavae.errors import BetaVAEError

Score = float | None


def seed_protocol(scores: Sequence[Score] | Sequence[Sequence[Score] | None], keep_fraction: float = 0.5,
                  num_classifier_seeds: int | None = None) -> dict:
    """§4: discard the worst ``1 - keep_fraction`` of all model × classifier-seed scores; mean ± std of the rest.

    ``scores`` is flat, or one row per model; a diverged model's row may be None, and counts as
    ``num_classifier_seeds`` diverged scores (needed when every model diverged, so no row shows the width).
    """
    if not 0 < keep_fraction <= 1:
        raise BetaVAEError(f"keep_fraction must lie in (0, 1], got {keep_fraction}")
    flat, shape = _flatten(scores, num_classifier_seeds)
    if not flat:
        raise BetaVAEError("the seed protocol needs at least one score")
    diverged = [value is None for value in flat]
    num_keep = math.ceil(round(len(flat) * keep_fraction, 9))
    # best first: finite scores by value (descending), then diverged ones; stable sort keeps input order on ties
    order = sorted(range(len(flat)), key=lambda i: (diverged[i], -(flat[i] or 0.0)))
    kept_indices = sorted(order[:num_keep])
    kept = [flat[i] for i in kept_indices]
    finite = [value for value in flat if value is not None]
    result = {
        "scores": flat, "shape": shape, "keep_fraction": keep_fraction, "num_total": len(flat),
        "num_kept": num_keep, "num_discarded": len(flat) - num_keep, "num_diverged": sum(diverged),
        "num_diverged_kept": sum(value is None for value in kept), "kept": kept, "kept_indices": kept_indices,
        "mean": None, "std": None,
        "mean_all_finite": float(np.mean(finite)) if finite else None,
        "std_all_finite": float(np.std(finite)) if finite else None,
    }
    if result["num_diverged_kept"]:
        result["note"] = (f"{sum(diverged)} of {len(flat)} runs diverged, more than the {len(flat) - num_keep} "
                          "discarded; no filtered mean is reported")
    else:
        result["mean"], result["std"] = float(np.mean(kept)), float(np.std(kept))
    return result


def _flatten(scores: Sequence, width: int | None) -> tuple[list[Score], list[int]]:
    """Pooled scores (None for diverged) and the shape [models, classifier seeds] or [n] they came in."""
    rows = list(scores)
    nested = any(hasattr(row, "__len__") and not isinstance(row, str) for row in rows)
    if not nested and width is None:
        return [_score(value) for value in rows], [len(rows)]
    if width is None:
        width = max(len(row) for row in rows if row is not None)
    elif width < 1:
        raise BetaVAEError(f"num_classifier_seeds must be at least 1, got {width}")
    flat: list[Score] = []
    for row in rows:
        if row is not None and not hasattr(row, "__len__"):
            raise BetaVAEError("with num_classifier_seeds, give one list of scores per model (None for a "
                               f"diverged model), not a flat list: got {row!r}")
        if row is not None and len(row) != width:
            raise BetaVAEError(f"every model needs the same number of classifier seeds ({width}); give a "
                               "diverged classifier run as None instead of leaving it out")
        flat.extend([None] * width if row is None else [_score(value) for value in row])
    return flat, [len(rows), width]


def _score(value: object) -> Score:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BetaVAEError(f"a score must be a number or None (diverged), got {value!r}") from None
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise BetaVAEError(f"a score must be finite, got {value!r}; give a diverged run as None or NaN")
    return number
