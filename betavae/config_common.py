"""The parts of a run's configuration that every model shares: data, network, objective, optimiser, loop.

Dataclasses whose fields are declared once with ``settings.field`` (here ``setting``): default, help, bounds or
choices, flag, and whether a resume may change it; validation, the ``train`` command's flags and the settings a
resume may change all follow from those declarations. A model's own settings are a section dataclass in its spec
under ``models/specs/`` (declared the same way); ``config.RunConfig`` puts the two together.

β is given either directly or normalised (App. A.6): ``β_norm = β·M/N`` with M latent units and
N input pixels (C·H·W). Both are resolved and recorded in ``config.json``.

Loss scaling, stated once because it is the most common source of confusion about β: the
reconstruction term is *summed* over pixels, the KL *summed* over latent units, and both are
*averaged* over the batch. A "β = 4" here means the paper's β = 4 under exactly that scaling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from betavae.errors import BetaVAEError
from betavae.settings import INT_RANGE as INT64  # noqa: F401  (what a config's integers may hold: 64 bits)
from betavae.settings import field as setting
from betavae.settings import short_repr
from betavae.settings import validate as validate_settings

ARCHITECTURES = ("mlp", "conv", "burgess")
LIKELIHOODS = ("bernoulli", "gaussian")
OBJECTIVES = ("beta", "capacity")
OPTIMIZERS = ("adagrad", "adam")
DEVICES = ("auto", "cpu", "cuda")
# Torch threads a run trains with (and an evaluation scores with) unless told otherwise: the same on every machine and
# executor, so that the same command gives the same numbers anywhere. Two: a single run gets 1.75x the speed of one
# thread, and a sweep on N cores still runs N/2 runs at once (README, "Threads").
DEFAULT_THREADS = 2
# Seeds go to torch, numpy and scikit-learn; the last takes 32-bit seeds only, so every seed lies in its range.
MAX_SEED = 2**32 - 1

# Table 1: the 2D-shapes MLP was trained with Adagrad (lr 1e-2), the conv nets with Adam (lr 1e-4);
# Burgess et al. (2018) used Adam with lr 5e-4.
PAPER_OPTIMIZER = {"mlp": ("adagrad", 1e-2), "conv": ("adam", 1e-4), "burgess": ("adam", 5e-4)}
# The capacity objective is Burgess et al.'s (2018): they trained it with Adam, lr 5e-4, whatever the network.
# Its γ = 1000 multiplies the KL's gradient far beyond Eq. 4's β = 4: Adagrad at lr 1e-2 gives NaN by step 2.
CAPACITY_OPTIMIZER = ("adam", 5e-4)


@dataclass(frozen=True)
class DatasetDefaults:
    arch: str
    likelihood: str
    beta: float
    latents: int


# Table 1 / App. A.1: architecture, decoder, (unnormalised) β and latent units the paper used per dataset, under the
# loss scaling above. CelebA's β = 250 is also quoted by third-party reproductions; chairs' 5 and faces' 20
# were not re-checked against the PDF (no offline copy). Gaussian decoder for CelebA's natural colour images,
# Bernoulli for the near-binary grey renders of chairs and faces. "folder" (a user's own images) is treated
# like CelebA except for β; the synthetic test set like 2D shapes.
#
# The benchmark datasets the paper did not use (README, Datasets) follow disentanglement_lib's study (Locatello et
# al. 2019, its App. and model configs): one conv encoder/decoder on every dataset (32-32-64-64 channels, stride 2,
# FC 256: Table 1's conv, whose kernels are 4×4 throughout where dlib's last two are 2×2), a Bernoulli decoder on
# every dataset, colour ones included, and 10 latents, under the loss scaling above (summed over pixels and
# latents, averaged over the batch), so its β values carry over. The study sweeps β over 1, 2, 4, 6, 8, 16 and
# names no single best; the default is 4, the paper's 2D-shapes β, inside that sweep.
_BENCHMARK = DatasetDefaults("conv", "bernoulli", 4.0, 10)
PAPER_DEFAULTS = {
    "dsprites": DatasetDefaults("mlp", "bernoulli", 4.0, 10),
    "synthetic-squares": DatasetDefaults("mlp", "bernoulli", 4.0, 10),
    "celeba": DatasetDefaults("conv", "gaussian", 250.0, 32),
    "chairs": DatasetDefaults("conv", "bernoulli", 5.0, 32),
    "faces": DatasetDefaults("conv", "bernoulli", 20.0, 32),
    "folder": DatasetDefaults("conv", "gaussian", 4.0, 32),
    "shapes3d": _BENCHMARK,
    "mpi3d-toy": _BENCHMARK,
    "mpi3d-realistic": _BENCHMARK,
    "mpi3d-real": _BENCHMARK,
    "smallnorb": _BENCHMARK,
    "cars3d": _BENCHMARK,
    "color-dsprites": _BENCHMARK,
    "noisy-dsprites": _BENCHMARK,
    "scream-dsprites": _BENCHMARK,
}


def dataset_defaults(dataset: str) -> DatasetDefaults:
    """The paper's choices for ``dataset``; a user's own folder (or any other name) gets the "folder" row."""
    return PAPER_DEFAULTS.get(dataset, PAPER_DEFAULTS["folder"])


class Section:
    """A section of the run config (``KEY`` in config.json): its declared settings validate themselves."""

    KEY: ClassVar[str]

    def validate(self) -> None:
        validate_settings(self, self.KEY)


@dataclass
class DataConfig(Section):
    """Which images to train on."""

    KEY = "data"

    dataset: str = setting("dsprites", "the images to train on (registry: data/registry.py)")
    path: str | None = setting(None, "dsprites (and color-/noisy-dsprites): the official .npz (else generated); "
                               "others: the directory made by `betavae data --out` (default: the one in "
                               "$BETAVAE_DATA_DIR)", flag="data")
    subset: str | None = setting(None, "train on part of a factor grid, e.g. stride:pos_x=2,pos_y=2 (App. A.8); "
                                 "default: the full set")


@dataclass
class ModelConfig(Section):
    """Architecture (Table 1) and decoder likelihood; None: the paper's choice for the dataset (PAPER_DEFAULTS)."""

    KEY = "model"

    arch: str | None = setting(None, "mlp | conv | burgess (default: the paper's for the dataset)",
                               choices=ARCHITECTURES, flag="arch")
    latents: int | None = setting(None, "number of latent units M (default: the paper's, 10 for 2D shapes, 32 for "
                                  "the rest)", minimum=1, wording="a positive integer", hint="e.g. --latents 10")
    likelihood: str | None = setting(None, "bernoulli | gaussian decoder (default: the paper's for the dataset)",
                                     choices=LIKELIHOODS, flag="likelihood")
    image_shape: tuple[int, int, int] | None = setting(None, "(C, H, W); taken from the dataset", cli=False)
    gaussian_std: float = setting(1.0, "fixed σ of the Gaussian decoder p(x|z) = N(x; f(z), σ²I)", above=0)

    @property
    def num_pixels(self) -> int:
        channels, height, width = self.image_shape
        return channels * height * width

    def check(self) -> None:
        if self.image_shape is None or self.arch is None:
            return  # filled in by resolve
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise BetaVAEError(f"image_shape must be (C, H, W) with positive sizes, got {self.image_shape}")
        if tuple(self.image_shape[1:]) != (64, 64):
            raise BetaVAEError(f"the {self.arch} architecture takes 64x64 images, got {self.image_shape[1:]}; "
                               "prepare the data with --size 64")


@dataclass
class ObjectiveConfig(Section):
    """Eq. 4 (β-VAE) or the capacity-controlled objective of Burgess et al. (2018)."""

    KEY = "objective"

    kind: str = setting("beta", "beta (Eq. 4) | capacity (Burgess et al. 2018)", choices=OBJECTIVES,
                        flag="objective")
    beta: float | None = setting(None, "β (default: the paper's for the dataset, 4 for dSprites)", minimum=0,
                                 hint="β < 0 would reward a larger KL")
    beta_norm: float | None = setting(None, "normalised β = β·M/N (App. A.6); instead of --beta", minimum=0,
                                      hint="β < 0 would reward a larger KL")
    # Burgess et al.: γ = 1000, C → 25 nats over 1e5 steps
    gamma: float = setting(1000.0, "capacity objective: γ in recon + γ·|KL − C|", minimum=0)
    capacity_max: float = setting(25.0, "capacity objective: final C in nats", minimum=0)
    capacity_steps: int = setting(100_000, "capacity objective: steps to ramp C", minimum=1,
                                  wording="a positive integer")

    def resolve(self, model: ModelConfig, default_beta: float) -> None:
        """Fill in whichever of β / β_norm was not given (neither: the paper's β for the dataset)."""
        if self.beta is None and self.beta_norm is None:
            self.beta = default_beta
        elif self.beta is not None and self.beta_norm is not None:
            implied = float(self.beta) * model.latents / model.num_pixels
            if not math.isclose(implied, self.beta_norm, rel_tol=1e-6):
                raise BetaVAEError(f"beta {self.beta} and beta_norm {self.beta_norm} disagree (β·M/N = {implied:.6g}"
                                   f" for M={model.latents}, N={model.num_pixels}); give only one of them")
        if self.beta is None:
            self.beta = float(self.beta_norm) * model.num_pixels / model.latents
        self.beta_norm = float(self.beta) * model.latents / model.num_pixels


@dataclass
class OptimConfig(Section):
    """Optimiser; None means the paper's choice for the architecture (Table 1)."""

    KEY = "optim"

    name: str | None = setting(None, "adagrad | adam (default: the paper's for the architecture)",
                               choices=OPTIMIZERS, flag="optimizer")
    lr: float | None = setting(None, "learning rate (default: the paper's)", above=0)

    def resolve(self, model: ModelConfig, objective: str = "beta") -> None:
        paper_name, paper_lr = CAPACITY_OPTIMIZER if objective == "capacity" else PAPER_OPTIMIZER[model.arch]
        if self.name is None:
            self.name = paper_name
            self.lr = self.lr if self.lr is not None else paper_lr
        if self.lr is None:
            self.lr = 1e-2 if self.name == "adagrad" else 1e-4


POSITIVE = {"minimum": 1, "wording": "a positive integer"}


@dataclass
class TrainConfig(Section):
    """The loop: how long, how big a batch, which seed, where."""

    KEY = "train"

    steps: int = setting(1000, "training steps", **POSITIVE)
    batch_size: int = setting(64, "batch size", **POSITIVE)
    seed: int = setting(0, "seed for initialisation, batches and noise", minimum=0, maximum=MAX_SEED,
                        wording=f"an integer from 0 to {MAX_SEED} (2**32 - 1)")
    device: str = setting("auto", "auto | cpu | cuda", choices=DEVICES, flag="device", resume=True)
    checkpoint_every: int = setting(1000, "steps between checkpoints", resume=True, **POSITIVE)
    log_every: int = setting(100, "steps between log.jsonl lines", resume=True, **POSITIVE)
    tensorboard: bool = setting(False, "also log to RUN/tensorboard", resume=True)
    keep_steps: tuple[int, ...] = setting((), "also keep the weights of these steps in RUN/checkpoints/ (evaluate "
                                          "--step N), e.g. 1000,2000", minimum=1, wording="positive step numbers",
                                          resume=True)
    # On a CPU, float sums split across threads round differently, so the thread count decides a run's numbers like
    # its seed does; every executor and every resume trains with this one.
    threads: int = setting(DEFAULT_THREADS, "torch threads the run trains with; part of what decides its numbers, "
                           "kept for every resume", **POSITIVE)

    def check(self) -> None:
        self.keep_steps = tuple(sorted(set(self.keep_steps)))


@dataclass
class CommonConfig:
    """What every run has, whatever its model, and the chosen model's own section (``config.RunConfig`` types and
    checks it against the model registry, which this module cannot see)."""

    model_type: str = setting("beta-vae", "the model to train",
                                                    flag="model")
    data: DataConfig = setting(default_factory=DataConfig)
    model: ModelConfig = setting(default_factory=ModelConfig)
    objective: ObjectiveConfig = setting(default_factory=ObjectiveConfig)
    optim: OptimConfig = setting(default_factory=OptimConfig)
    train: TrainConfig = setting(default_factory=TrainConfig)
    # the model's settings (a dataclass of its spec's, e.g. InfoGANConfig); None: its defaults
    section: Any = setting(None, cli=False)

    def validate(self) -> CommonConfig:
        for name in COMMON_SECTIONS:
            getattr(self, name).validate()
        return self

    def resolve(self, image_shape: tuple[int, int, int]) -> CommonConfig:
        """Fill every default that depends on the dataset or other fields, then validate the whole."""
        self.validate()
        defaults = dataset_defaults(self.data.dataset)
        self.model.arch = self.model.arch or defaults.arch
        self.model.likelihood = self.model.likelihood or defaults.likelihood
        self.model.latents = self.model.latents or defaults.latents
        self.model.image_shape = tuple(self.model.image_shape or image_shape)
        self.validate()
        self.objective.resolve(self.model, defaults.beta)
        self.optim.resolve(self.model, self.objective.kind)
        return self


COMMON_SECTIONS = ("data", "model", "objective", "optim", "train")


# A model's own section (``models/specs/*.py``) declares its fields the same way; ``option`` is its historic name.
option = setting


def validate_section(section: Any, where: str) -> None:
    """Types, bounds and choices of each field, then the section's own ``check()`` if it has one."""
    validate_settings(section, where)


def check_seed(value: Any, name: str) -> None:
    """Refuse a seed that is not an integer from 0 to :data:`MAX_SEED`, naming the allowed range."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
        raise BetaVAEError(f"{name} must be an integer from 0 to {MAX_SEED} (2**32 - 1), got {short_repr(value)}")
