"""The one linear classifier of the paper's metrics: a linear layer, softmax output, NLL loss, Adagrad.

App. A.4 trains it with Adagrad (learning rate 1e-2) "until convergence"; App. A.5 (Table 2) uses the same
kind of linear classifier on the codes themselves. Convergence is made precise here:

* inputs are standardised with the training set's mean and standard deviation (a constant feature is
  left unscaled), which changes the optimiser's path but not the set of functions a linear layer can fit;
* training runs in minibatches (``batch_size``; ``None`` = full batch) in an order drawn from ``seed``,
  and after every epoch the full training-set NLL is measured;
* the run has *converged* at epoch ``e`` when the best loss so far improved by less than ``tol``
  over the last ``window`` epochs; otherwise it stops at ``max_epochs`` with ``converged = False``;
* or, with ``updates`` set, it makes exactly that many Adagrad updates (the last epoch may be partial) and
  tests nothing (``converged = None``): a fixed training budget, e.g. to measure how the score depends on it.

The seed drives the initial weights (normal, std 0.01) and the minibatch order, nothing else.
The dlib variant of the metric uses scikit-learn's logistic regression instead; :func:`fit_sklearn_logistic`
wraps it so both return the same :class:`LinearClassifier`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from betavae.errors import BetaVAEError
from betavae.metrics.base import Settings, setting

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ClassifierSettings(Settings):
    """How the linear softmax classifier is trained (App. A.4: Adagrad, learning rate 1e-2)."""

    lr: float = setting(1e-2, "Adagrad learning rate (App. A.4)", above=0)
    batch_size: int | None = setting(64, "minibatch size (none: full batch)", minimum=1)
    max_epochs: int = setting(1000, "stop after this many epochs if not converged", minimum=1)
    tol: float = setting(1e-3, "converged: best training NLL improved by < tol over the last window", minimum=0)
    window: int = setting(10, "epochs the convergence test looks back", minimum=1)
    standardize: bool = setting(True, "standardise the classifier's inputs with the training set's mean and std")
    updates: int | None = setting(None, "train exactly this many Adagrad updates (cycling through epochs), no "
                                        "convergence test (none: until convergence)", minimum=1)


@dataclass
class LinearClassifier:
    """A fitted linear classifier ``argmax(((x - mean) / scale) @ weight.T + bias)`` and how it was fitted."""

    weight: np.ndarray  # [classes, d]
    bias: np.ndarray  # [classes]
    mean: np.ndarray  # [d]
    scale: np.ndarray  # [d]
    epochs: int
    converged: bool | None  # None: a fixed number of updates, no convergence test
    train_loss: float
    updates: int = 0  # optimiser steps taken (lbfgs: iterations)

    def predict(self, x: np.ndarray) -> np.ndarray:
        logits = ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.weight.T + self.bias
        return logits.argmax(axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())


def fit_linear_softmax(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int,
                       settings: ClassifierSettings = ClassifierSettings(), device: str = "cpu") -> LinearClassifier:
    """App. A.4: a linear layer with softmax output trained on NLL with Adagrad until convergence."""
    import torch

    with _one_cpu_thread(device):
        return _fit_linear_softmax(*_check_xy(x, y, num_classes), num_classes, seed, settings, torch.device(device))


def fit_side_by_side(problems: Sequence[tuple[np.ndarray, np.ndarray, int, int]],
                     settings: ClassifierSettings = ClassifierSettings(), device: str = "cpu",
                     threads: int = 1) -> list[LinearClassifier]:
    """:func:`fit_linear_softmax` on each ``(x, y, num_classes, seed)``, up to ``threads`` fits at once: each on one
    CPU thread, so with the numbers it has alone, bit for bit (torch's ops run without the GIL)."""
    from betavae.threads import side_by_side

    with _one_cpu_thread(device):  # one thread before the fits start: their own setting and restoring never race
        return side_by_side([partial(fit_linear_softmax, x, y, num_classes, seed, settings, device)
                             for x, y, num_classes, seed in problems], threads)


@contextmanager
def _one_cpu_thread(device: str) -> Iterator[None]:
    """These matrices are tiny: extra threads gain nothing, and on a busy machine every op waits for them
    (measured: a 1 s fit took minutes when the 2 cores were shared with other jobs)."""
    import torch

    if torch.device(device).type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _fit_linear_softmax(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int, settings: ClassifierSettings,
                        device: torch.device) -> LinearClassifier:
    import torch
    import torch.nn.functional as F

    mean, scale = _standardiser(x, settings.standardize)
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.from_numpy(((x - mean) / scale).astype(np.float32)).to(device)
    labels = torch.from_numpy(y).to(device)
    targets = F.one_hot(labels, num_classes).float()
    params = [(0.01 * torch.randn(num_classes, x.shape[1], generator=generator)).to(device),
              torch.zeros(num_classes, device=device)]
    sums = [torch.zeros_like(param) for param in params]
    batch_size = settings.batch_size or len(x)
    best = [float("inf")]  # best full training-set NLL after each epoch
    converged: bool | None = False
    updates = 0
    batches = -(-len(x) // batch_size)  # per epoch
    max_epochs = settings.max_epochs if settings.updates is None else -(-settings.updates // batches)
    for epoch in range(1, max_epochs + 1):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            if updates == settings.updates:
                break
            updates += 1
            batch = batch.to(device)
            # inputs[batch], targets[batch] as whole rows: the same values, 2x faster than indexing at 4,096 dims
            inputs_b, targets_b = inputs.index_select(0, batch), targets.index_select(0, batch)
            # d NLL / d logits = softmax - onehot; written out because autograd triples the cost of these tiny steps
            error = (torch.softmax(inputs_b @ params[0].T + params[1], dim=1) - targets_b) / len(batch)
            for param, grad, total in zip(params, (error.T @ inputs_b, error.sum(0)), sums):
                total.addcmul_(grad, grad)  # Adagrad, as torch.optim.Adagrad with its defaults (eps 1e-10)
                param.addcdiv_(grad, total.sqrt().add_(1e-10), value=-settings.lr)
        if settings.updates is not None and epoch < max_epochs:
            continue  # a fixed budget: the loss is measured once, at the end
        loss = F.cross_entropy(inputs @ params[0].T + params[1], labels).item()
        best.append(min(best[-1], loss))
        window = settings.window
        if settings.updates is None and epoch >= window and best[-1 - window] - best[-1] < settings.tol:
            converged = True
            break
    if settings.updates is not None:
        converged = None
    weight, bias = (param.cpu().double().numpy() for param in params)
    return LinearClassifier(weight, bias, mean, scale, epochs=epoch, converged=converged, train_loss=best[-1],
                            updates=updates)


def fit_sklearn_logistic(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int) -> LinearClassifier:
    """scikit-learn ``LogisticRegression()`` with its defaults, on raw (unstandardised) inputs, as dlib does."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    x, y = _check_xy(x, y, num_classes)
    model = LogisticRegression(random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    weight = np.zeros((num_classes, x.shape[1]))
    bias = np.full(num_classes, -np.inf)  # classes absent from training can never be predicted
    if len(model.classes_) == 2:  # binary: sklearn keeps one row, the logit of classes_[1]
        weight[model.classes_[1]], bias[model.classes_[1]] = model.coef_[0], model.intercept_[0]
        bias[model.classes_[0]] = 0.0
    else:
        weight[model.classes_], bias[model.classes_] = model.coef_, model.intercept_
    probabilities = np.clip(model.predict_proba(x)[np.arange(len(y)), np.searchsorted(model.classes_, y)], 1e-300, 1)
    iterations = int(model.n_iter_.max())
    return LinearClassifier(weight, bias, np.zeros(x.shape[1]), np.ones(x.shape[1]), epochs=iterations,
                            converged=converged, train_loss=float(-np.log(probabilities).mean()), updates=iterations)


def _check_xy(x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or y.shape != (len(x),) or len(x) == 0:
        raise BetaVAEError(f"classifier inputs must be x[n, d] and y[n] with n >= 1, got {list(x.shape)} and "
                           f"{list(y.shape)}")
    if not np.isfinite(x).all():
        raise BetaVAEError("the representation produced non-finite codes (NaN or inf); check the model "
                           "(did training diverge?)")
    if y.min() < 0 or y.max() >= num_classes:
        raise BetaVAEError(f"class labels must lie in [0, {num_classes})")
    return x, y


def _standardiser(x: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    if not standardize:
        return np.zeros(x.shape[1]), np.ones(x.shape[1])
    scale = x.std(axis=0)
    return x.mean(axis=0), np.where(scale > 1e-12 * np.maximum(1.0, np.abs(x).max(axis=0)), scale, 1.0)
