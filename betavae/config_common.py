"""The parts of a run's configuration that every model shares: data, network, objective, optimiser, loop.

Plain dataclasses, validated on load. A model's own settings are a section dataclass in its file under
``models/`` (declared with :func:`option`); ``config.RunConfig`` puts the two together.

β is given either directly or normalised (App. A.6): ``β_norm = β·M/N`` with M latent units and
N input pixels (C·H·W). Both are resolved and recorded in ``config.json``.

Loss scaling, stated once because it is the most common source of confusion about β: the
reconstruction term is *summed* over pixels, the KL *summed* over latent units, and both are
*averaged* over the batch. A "β = 4" here means the paper's β = 4 under exactly that scaling.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from betavae.errors import BetaVAEError

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
INT64 = (-(2**63), 2**63 - 1)  # what a config's integers may hold: torch and numpy take 64 bits at most

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


@dataclass
class DataConfig:
    """Which images to train on."""

    dataset: str = "dsprites"
    path: str | None = None  # dSprites: official .npz (else generated); folders: the prepared cache dir
    subset: str | None = None  # e.g. "stride:pos_x=2,pos_y=2" (App. A.8); None = the full set


@dataclass
class ModelConfig:
    """Architecture (Table 1) and decoder likelihood."""

    arch: str | None = None  # None: the paper's choice for the dataset (PAPER_DEFAULTS)
    latents: int | None = None  # None: the paper's choice for the dataset (10 for 2D shapes, 32 for the rest)
    likelihood: str | None = None  # None: the paper's choice for the dataset
    image_shape: tuple[int, int, int] | None = None  # None: taken from the dataset
    gaussian_std: float = 1.0  # fixed σ of the Gaussian decoder p(x|z) = N(x; f(z), σ²I)

    @property
    def num_pixels(self) -> int:
        channels, height, width = self.image_shape
        return channels * height * width

    def validate(self) -> None:
        if self.latents is not None and (not isinstance(self.latents, int) or self.latents < 1):
            raise BetaVAEError(f"latents must be a positive integer, got {self.latents!r}; e.g. --latents 10")
        if self.arch is None or self.likelihood is None or self.image_shape is None or self.latents is None:
            return  # filled in by RunConfig.resolve
        check_choice("arch", self.arch, ARCHITECTURES)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise BetaVAEError(f"image_shape must be (C, H, W) with positive sizes, got {self.image_shape}")
        if tuple(self.image_shape[1:]) != (64, 64):
            raise BetaVAEError(f"the {self.arch} architecture takes 64x64 images, got {self.image_shape[1:]}; "
                               "prepare the data with --size 64")
        if self.gaussian_std <= 0:
            raise BetaVAEError(f"gaussian_std must be > 0, got {self.gaussian_std}")


@dataclass
class ObjectiveConfig:
    """Eq. 4 (β-VAE) or the capacity-controlled objective of Burgess et al. (2018)."""

    kind: str = "beta"
    beta: float | None = None  # the paper's β; give this or beta_norm
    beta_norm: float | None = None  # App. A.6: β_norm = β·M/N
    gamma: float = 1000.0  # capacity objective: recon + γ·|KL − C| (Burgess et al.: γ = 1000, C → 25 over 1e5 steps)
    capacity_max: float = 25.0  # nats, reached after capacity_steps
    capacity_steps: int = 100_000

    def validate(self) -> None:
        check_choice("objective", self.kind, OBJECTIVES)
        for name in ("beta", "beta_norm"):
            value = getattr(self, name)
            if value is not None and not (value >= 0):  # also rejects NaN
                raise BetaVAEError(f"{name} must be >= 0, got {value}; β < 0 would reward a larger KL")
        if self.gamma < 0 or self.capacity_max < 0 or self.capacity_steps < 1:
            raise BetaVAEError("capacity objective needs gamma >= 0, capacity_max >= 0 and capacity_steps >= 1")

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
class OptimConfig:
    """Optimiser; None means the paper's choice for the architecture (Table 1)."""

    name: str | None = None
    lr: float | None = None

    def validate(self) -> None:
        if self.name is not None:
            check_choice("optimizer", self.name, OPTIMIZERS)
        if self.lr is not None and not (self.lr > 0):
            raise BetaVAEError(f"lr must be > 0, got {self.lr}")

    def resolve(self, model: ModelConfig, objective: str = "beta") -> None:
        paper_name, paper_lr = CAPACITY_OPTIMIZER if objective == "capacity" else PAPER_OPTIMIZER[model.arch]
        if self.name is None:
            self.name = paper_name
            self.lr = self.lr if self.lr is not None else paper_lr
        if self.lr is None:
            self.lr = 1e-2 if self.name == "adagrad" else 1e-4


@dataclass
class TrainConfig:
    """The loop: how long, how big a batch, which seed, where."""

    steps: int = 1000
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 1000
    log_every: int = 100
    tensorboard: bool = False
    keep_steps: tuple[int, ...] = ()  # also keep the weights of these steps in RUN/checkpoints/ (training curves)
    # torch's intra-op threads: on a CPU, float sums split across threads round differently, so the thread count
    # decides a run's numbers like its seed does; every executor and every resume trains with this one.
    threads: int = DEFAULT_THREADS

    def validate(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise BetaVAEError(f"{name} must be a positive integer, got {value!r}")
        self.keep_steps = tuple(sorted(set(self.keep_steps)))
        if any(step < 1 for step in self.keep_steps):
            raise BetaVAEError(f"keep_steps must be positive step numbers, got {list(self.keep_steps)}")
        check_seed(self.seed, "seed")
        check_choice("device", self.device, DEVICES)


@dataclass
class CommonConfig:
    """What every run has, whatever its model, and the chosen model's own section (``config.RunConfig`` types and
    checks it against the model registry, which this module cannot see)."""

    model_type: Literal["beta-vae"] | str = "beta-vae"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    section: Any = None  # the model's settings (a dataclass of its file's, e.g. InfoGANConfig); None: its defaults

    def validate(self) -> CommonConfig:
        check_field_types(self, "config")
        for name in COMMON_SECTIONS:
            check_field_types(getattr(self, name), name)
        for part in (self.model, self.objective, self.optim, self.train):
            part.validate()
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


# --- a model's own section: fields declared with their help, bounds and flag --------------------------------------

def option(default: Any, help: str, *, minimum: float | None = None, above: float | None = None,
           choices: tuple[str, ...] | None = None, flag: str | None = None) -> Any:
    """A field of a model's config section: its default, help text, bounds (``minimum``: value >= it; ``above``:
    value > it) or choices, and its CLI flag when not ``--field-name``."""
    return field(default=default, metadata={"help": help, "minimum": minimum, "above": above, "choices": choices,
                                            "flag": flag})


def validate_section(section: Any, where: str) -> None:
    """Types, then each :func:`option`'s bounds and choices, then the section's own ``check()`` if it has one."""
    check_field_types(section, where)
    for item in dataclasses.fields(section):
        value, meta = getattr(section, item.name), item.metadata
        if value is None:
            continue
        if meta.get("choices") is not None:
            check_choice(f"{where}.{item.name}", value, meta["choices"])
        minimum, above = meta.get("minimum"), meta.get("above")
        if minimum is not None and not value >= minimum or above is not None and not value > above:
            bound = f">= {minimum:g}" if minimum is not None else f"> {above:g}"
            raise BetaVAEError(f"{where}.{item.name} must be {bound}, got {value!r}")
    check = getattr(section, "check", None)
    if check is not None:
        check()



def check_field_types(part: Any, where: str) -> None:
    """Each field holds a value of its declared type (a JSON config can hold anything); numbers are finite."""
    hints = typing.get_type_hints(type(part))
    for config_field in dataclasses.fields(part):
        value, hint = getattr(part, config_field.name), hints[config_field.name]
        if dataclasses.is_dataclass(value):
            continue
        if not _matches(value, hint):
            expected = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
            raise BetaVAEError(f"{where}.{config_field.name} must be {expected}, got {_short(value)}")
        if any(not INT64[0] <= number <= INT64[1] for number in _integers(value)):
            raise BetaVAEError(f"{where}.{config_field.name} holds {_short(value)}, beyond 64 bits: integers in a "
                               f"config lie from {INT64[0]} to {INT64[1]}")
        if isinstance(value, float) and not math.isfinite(value):
            raise BetaVAEError(f"{where}.{config_field.name} must be a finite number, got {value!r}")


def _integers(value: Any) -> list[int]:
    """The integers in a field's value (itself, or the items of a tuple)."""
    items = value if isinstance(value, (tuple, list)) else [value]
    return [item for item in items if isinstance(item, int) and not isinstance(item, bool)]


def _matches(value: Any, hint: Any) -> bool:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, argument) for argument in arguments)
    if origin is Literal:
        return value in arguments
    if origin is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
        return isinstance(value, (tuple, list)) and all(_matches(item, arguments[0]) for item in value)
    if origin is tuple:
        return (isinstance(value, (tuple, list)) and len(value) == len(arguments)
                and all(_matches(item, argument) for item, argument in zip(value, arguments)))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def check_seed(value: Any, name: str) -> None:
    """Refuse a seed that is not an integer from 0 to :data:`MAX_SEED`, naming the allowed range."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
        raise BetaVAEError(f"{name} must be an integer from 0 to {MAX_SEED} (2**32 - 1), got {_short(value)}")


def _short(value: Any) -> str:
    """``repr(value)``; a number of many digits by its length (Python refuses to print over 4,300 of them)."""
    if isinstance(value, int) and abs(value) >= 10**40:
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    return repr(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise BetaVAEError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


def from_dict_into(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise BetaVAEError(f"{where} must be a JSON object, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise BetaVAEError(f"unknown key(s) {unknown} in {where}; known keys: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = from_dict_into(type(default), value, f"{where}.{name}")
        elif name in ("image_shape", "keep_steps") and isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)
