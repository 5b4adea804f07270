"""The `betavae` command: parse, call one library function, print. Nothing imports this module."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

from betavae import __version__
from betavae.config_common import DEFAULT_THREADS, INT64, MAX_SEED, CommonConfig
from betavae.errors import BetaVAEError, DivergedError, StoppedByUser
from betavae.experiments.registry import MODULES as EXPERIMENT_MODULES  # names only: no torch
from betavae.settings import add_flags, flag_of, flags_given, leaves, value_parser

# The registries of models and metrics import torch (seconds): they are imported inside main's error handling, so
# that a Ctrl-C meanwhile ends in one line, never a traceback.

MODEL_SETTING = "model_setting:"  # argparse dest prefix of the flags built from a model's config section

# Exit statuses, for scripts; printed by `betavae --help` and listed in the README.
EXIT_OK, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_STOPPED = 0, 2, 3, 130
EXIT_STATUSES = f"""exit status:
  {EXIT_OK}    success
  {EXIT_BAD_INPUT}    bad input (missing or corrupt file, bad option, …): one `error:` line says what to do
  {EXIT_DIVERGED}    training diverged (NaN/inf loss or weights): the run is marked diverged, its last good
       checkpoint kept; the `error:` line names what to lower
  {EXIT_STOPPED}  stopped by Ctrl-C: finished work and a checkpoint are kept; rerun the command to continue"""

CONFIG = "config"  # argparse dest prefix of the `train` flags derived from the run config's declared settings

def integer(low: int = INT64[0], high: int = INT64[1]) -> typing.Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (by default 64 bits, what torch and numpy hold)."""
    return value_parser(int, (low, high))


SEED = integer(0, MAX_SEED)


class Parser(argparse.ArgumentParser):
    """argparse with betavae's errors: one `error:` line naming the option, exit status 2 (no usage block)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from betavae.data.registry import DATASETS, FOLDER_DATASETS
    from betavae.metrics.registry import METRICS, PAPER_METRICS
    from betavae.models.registry import MODELS

    parser = Parser(prog="betavae", description="β-VAE (Higgins et al., ICLR 2017), end to end.",
                    epilog=EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"betavae {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="generate dSprites, convert a benchmark dataset's official files once, "
                                            "or prepare a folder of images")
    data.add_argument("dataset", help=" | ".join(d for d in DATASETS if d != "synthetic-squares"))
    data.add_argument("--out", help="output directory (default $BETAVAE_DATA_DIR or ~/.cache/betavae, "
                                    "plus /NAME except for dsprites)")
    data.add_argument("--source", help="dsprites (and color-/noisy-dsprites): the official dsprites_ndarray_...npz "
                                       "to validate and use")
    data.add_argument("--from", dest="source_folder",
                      help="the official file or folder of a benchmark dataset (README, Datasets), or "
                           "celeba/chairs/faces/folder: the folder of images")
    data.add_argument("--size", type=integer(), default=64, help="image side after crop and resize (default 64)")
    colour = data.add_mutually_exclusive_group()
    colour.add_argument("--grey", dest="grayscale", action="store_const", const=True, help="convert to grey")
    colour.add_argument("--rgb", dest="grayscale", action="store_const", const=False, help="keep RGB")
    data.add_argument("--force", action="store_true", help="rebuild an existing cache (e.g. one found damaged)")
    data.add_argument("--quiet", action="store_true", help="no progress bar")

    train = commands.add_parser("train", help="train a β-VAE into a run directory")
    train.add_argument("--config", help="JSON config file (see --print-config); flags override it")
    train.add_argument("--out", help="run directory (required unless --print-config)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint, "
                       "with its saved config (flags may only extend --steps or change logging, checkpointing, device)")
    train.add_argument("--restart", action="store_true", help="train the run in --out again from step 0, with its "
                       "saved config, when its checkpoint.pt was lost (its log.jsonl, provenance.json and status.json "
                       "are set aside as NAME.before-restart)")
    train.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    add_flags(train, CommonConfig, CONFIG, by_name=True, more_help={
        "model_type": " | ".join(MODELS) + ": " + "; ".join(f"{name}: {spec.title}" for name, spec in MODELS.items()),
        "data.dataset": " | ".join(DATASETS)})
    train.add_argument("--allow-fewer-cores", action="store_true", help="resume a run whose --threads exceed this "
                       "machine's cores (same numbers, slower)")
    for key, (section, models) in _model_sections().items():
        add_flags(train.add_argument_group(f"{', '.join(models)} settings (the {key!r} section of config.json)"),
                  section, f"{MODEL_SETTING}{key}")

    evaluate = commands.add_parser(
        "evaluate", help="disentanglement metrics: the paper's, its dlib variant, Table 2 and later ones",
        description="Score a trained run or a baseline representation on its ground-truth dataset (a run on an image "
                    "folder: with the label-free metrics only). Metrics: "
                    + "; ".join(f"{name}: {metric.title}" for name, metric in METRICS.items()) + ".")
    target = evaluate.add_mutually_exclusive_group(required=True)
    target.add_argument("run_dir", nargs="?", help="a trained run (writes RUN_DIR/eval.json)")
    target.add_argument("--representation", help="ground-truth | constant | raw-pixels | pca | pca-raw | ica | "
                                                 "ica-pairs (App. A.3) | untrained-vae")
    evaluate.add_argument("--metrics", default=",".join(PAPER_METRICS),
                          help=f"all, or names separated by commas, from: {', '.join(METRICS)} "
                               f"(default {','.join(PAPER_METRICS)})")
    evaluate.add_argument("--seed", type=SEED, default=0, help="fit/initialisation seed of --representation")
    evaluate.add_argument("--dataset", default="dsprites", help="with --representation: the ground-truth data")
    evaluate.add_argument("--data", help="with --representation: as train's --data")
    evaluate.add_argument("--classifier-seeds", type=integer(1, 1000), default=3,
                          help="classifier seeds 0..K-1 (default 3)")
    evaluate.add_argument("--sample-seed", type=SEED, default=0, help="seed of the points and images scored (0)")
    evaluate.add_argument("--pairs", type=integer(), help="beta-vae and beta-vae-dlib: L, pairs per point (64)")
    evaluate.add_argument("--train-points", type=integer(), help="beta-vae and beta-vae-dlib: training points (10000)")
    evaluate.add_argument("--test-points", type=integer(), help="beta-vae and beta-vae-dlib: test points (5000)")
    evaluate.add_argument("--table2-train", type=integer(), help="table2: training images (10000)")
    evaluate.add_argument("--table2-test", type=integer(), help="table2: test images (5000)")
    evaluate.add_argument("--no-standardize", action="store_true",
                          help="beta-vae and table2: feed the classifier raw features instead of standardised ones")
    evaluate.add_argument("--no-dlib", action="store_true", help="leave beta-vae-dlib out of --metrics")
    evaluate.add_argument("--no-table2", action="store_true", help="leave table2 out of --metrics")
    evaluate.add_argument("--json", help="also write the evaluation here, in RUN/eval.json's layout "
                                         "({version, metrics: {key: entry}}); - for stdout (the table then goes "
                                         "to stderr)")
    evaluate.add_argument("--threads", type=integer(1, 1024), default=DEFAULT_THREADS,
                          help=f"torch threads for encoding and classifier fits; they decide the last digits, so "
                               f"they are part of what eval.json caches (default {DEFAULT_THREADS})")
    evaluate.add_argument("--step", type=integer(),
                          help="score the weights a run kept at this step (train --keep-steps)")
    evaluate.add_argument("--device", default="auto", help="where a run's encoder runs: auto | cpu | cuda")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    for name, metric in METRICS.items():
        add_setting_flags(evaluate.add_argument_group(f"{name}: {metric.title}"), name, metric.settings_type)

    traverse = commands.add_parser("traverse", help="draw reconstructions, samples, traversals of a run")
    traverse.add_argument("run_dir", help="a run directory made by `betavae train`")
    traverse.add_argument("--seed-images", type=integer(1, 16), default=3, help="traversal sheets to draw (default 3)")
    traverse.add_argument("--seed", type=SEED, default=0, help="which images are picked (default 0)")

    reproduce = commands.add_parser("reproduce", help="reproduce one paper experiment and write its report")
    reproduce.add_argument("experiment", help=" | ".join(EXPERIMENT_MODULES))
    reproduce.add_argument("--budget", default="smoke", help="smoke (minutes) | cpu (hours) | paper | long "
                                                             "(training-curve only) (default smoke)")
    reproduce.add_argument("--out", help="output directory (default reproductions/EXPERIMENT-BUDGET[-DATASET])")
    reproduce.add_argument("--dataset", default="dsprites", help="ground-truth dataset (default dsprites): "
                           + " | ".join(d for d in DATASETS if d not in FOLDER_DATASETS))
    reproduce.add_argument("--data", help="as train's --data (dSprites: the official .npz instead of the generated "
                                          "file)")
    reproduce.add_argument("--device", default="auto", help="auto | cpu | cuda")
    reproduce.add_argument("--workers", type=integer(), help="local: training processes at once (default: the "
                                                           "cores divided by --threads)")
    reproduce.add_argument("--executor", default="local", choices=("local", "ray"),
                           help="where the training runs go: local processes (default), or ray tasks, one per "
                                "training run and one per evaluation (pip install 'betavae[ray]')")
    reproduce.add_argument("--address", help="ray: join this cluster (`ray start --head` prints it; default "
                                             "$RAY_ADDRESS, else a local Ray instance for this command)")
    reproduce.add_argument("--threads", type=integer(1, 1024), help="torch threads of every run and evaluation; "
                           "part of what decides their numbers (default: the budget's, 2; long: 1)")
    reproduce.add_argument("--cpus-per-run", type=float, help="ray: CPUs reserved per task (default: --threads)")
    reproduce.add_argument("--gpus-per-run", type=float, help="ray: GPUs per run, fractions pack runs onto one GPU, "
                                                              "e.g. 0.25 (default 1 where the cluster has GPUs)")
    reproduce.add_argument("--rows", help="fig6-table/table2/metric-sensitivity: only these rows, e.g. pca,vae "
                                          "(ground-truth raw-pixels pca ica dcign infogan untrained-vae vae "
                                          "beta-vae-b4; also pca-raw ica-full factor-vae beta-tcvae dip-vae-1 "
                                          "dip-vae-2)")
    reproduce.add_argument("--metrics", help="fig6-table, training-curve: also score every model with later "
                                             "metrics, all | "
                                             f"{','.join(name for name in METRICS if name not in PAPER_METRICS)} "
                                             "(one more table in the report)")
    reproduce.add_argument("--betas", help="training-curve: the β curves, e.g. 1,2,4,8 (default 1,4)")
    reproduce.add_argument("--quiet", action="store_true", help="no progress bars")

    udr = commands.add_parser(
        "udr", help="rank trained runs without labels: UDR, how well runs agree up to permutation and sign",
        description="Unsupervised Disentanglement Ranking (Duan et al. 2020): every run encodes the same images; each "
                    "pair of runs is scored by how one-to-one their active latents correspond; a run's UDR is the "
                    "median over its pairs. Writes OUT/udr.json and OUT/udr.png (the pairwise scores).")
    udr.add_argument("run_dirs", nargs="+", metavar="RUN", help="two or more runs trained on the same dataset")
    udr.add_argument("--out", default="udr", help="where udr.json and udr.png go (default ./udr)")
    udr.add_argument("--threads", type=integer(1, 1024), default=DEFAULT_THREADS,
                     help=f"torch threads for encoding; part of what RUN/udr/ caches (default {DEFAULT_THREADS})")
    udr.add_argument("--device", default="auto", help="where the encoders run: auto | cpu | cuda")
    udr.add_argument("--quiet", action="store_true", help="no progress bar")
    from betavae.metrics.udr import UDRSettings

    add_flags(udr, UDRSettings, "udr")

    demo = commands.add_parser("demo", help="generate dSprites, train a short β-VAE, draw its figures")
    demo.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    demo.add_argument("--steps", type=integer(), default=1500, help="training steps (default 1500)")
    demo.add_argument("--device", default="auto")
    return parser


def _model_sections() -> dict[str, tuple[type, list[str]]]:
    """Each model section's key → its dataclass and the models that read it."""
    from betavae.models.registry import MODELS

    sections: dict[str, tuple[type, list[str]]] = {}
    for name, spec in MODELS.items():
        if spec.section is not None:
            sections.setdefault(spec.section_key, (spec.section, []))[1].append(name)
    return sections


def _model_flag(path: str) -> str:
    """The flag of a model setting "section_key.field"."""
    key, name = path.split(".")
    section, _ = _model_sections()[key]
    return flag_of(next(leaf for leaf in leaves(section) if leaf.path == name))


def model_settings_given(args: argparse.Namespace) -> dict[str, object]:
    """``{"section_key.field": value}`` for every model-setting flag given."""
    return {f"{key}.{path}": value for key in _model_sections()
            for path, value in flags_given(args, f"{MODEL_SETTING}{key}").items()}


def add_setting_flags(group: argparse._ArgumentGroup, metric: str, settings_type: type) -> None:
    """One flag per field of a metric's settings dataclass: ``num_bins`` of mig → ``--mig-num-bins``."""
    add_flags(group, settings_type, dest=f"setting:{metric}", flag_prefix=metric)


def main(argv: list[str] | None = None) -> int:
    with _text_any_terminal_can_show():
        try:
            args = build_parser().parse_args(argv)
            code = COMMANDS[args.command](args)
            say(end="")  # what is still buffered: a full device or a closed pipe fails here, not in Python's exit
            return code
        except StoppedByUser as error:  # a clean stop, not bad input: the shell's Ctrl-C status
            print(f"stopped: {error}", file=sys.stderr)
            return EXIT_STOPPED
        except DivergedError as error:  # the input was valid; the optimisation failed
            print(f"error: {error}", file=sys.stderr)
            return EXIT_DIVERGED
        except BetaVAEError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print("stopped (Ctrl-C): finished work is kept; run the same command again to continue", file=sys.stderr)
            return EXIT_STOPPED
        except OutputFailed as failure:
            print(f"error: cannot write to standard output ({failure.error.strerror or failure.error}); send it to a "
                  "file on a disk with space, or to a pipe that stays open", file=sys.stderr)
            return EXIT_BAD_INPUT


@contextlib.contextmanager
def _text_any_terminal_can_show() -> Iterator[None]:
    """β and other characters the output's encoding lacks (PYTHONIOENCODING=ascii, a C locale) print as escapes such
    as \\u03b2 instead of failing; the streams' own setting is restored afterwards."""
    streams = [stream for stream in (sys.stdout, sys.stderr) if callable(getattr(stream, "reconfigure", None))]
    before = [stream.errors for stream in streams]
    for stream in streams:
        stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        for stream, errors in zip(streams, before):
            with contextlib.suppress(OSError, ValueError):
                stream.reconfigure(errors=errors)


class OutputFailed(Exception):
    """Standard output could not take what was printed (a full device, a closed pipe)."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


def say(*text: object, end: str = "\n") -> None:
    """Print to standard output, at once. If it cannot be written, it is pointed at /dev/null (the process ends
    soon, and Python's last flush must not fail again with a traceback) and :class:`OutputFailed` raised."""
    try:
        print(*text, end=end, flush=True)
    except OSError as error:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        raise OutputFailed(error) from None


def run_data(args: argparse.Namespace) -> int:
    if args.dataset == "dsprites":
        from betavae.data import dsprites

        path = dsprites.ensure_dsprites(out_dir=args.out, source=args.source, progress=not args.quiet,
                                        force=args.force, verify=True)
        say(f"dSprites ready: {path}")
        return 0
    from betavae.data.registry import DATASETS, FOLDER_DATASETS, PREPARED

    if args.dataset in PREPARED:
        if args.source and args.source_folder:
            raise BetaVAEError("give --from or --source, not both")
        path = PREPARED[args.dataset].prepare(args.source_folder or args.source, args.out, force=args.force,
                                              progress=not args.quiet)
        hint = "" if args.out is None else f" --data {path}"
        say(f"{args.dataset} ready: {path} (train with --dataset {args.dataset}{hint})")
        return 0
    if args.dataset not in FOLDER_DATASETS:
        raise BetaVAEError(f"unknown dataset {args.dataset!r}; choose one of: "
                           f"{', '.join(d for d in DATASETS if d != 'synthetic-squares')}")
    if not args.source_folder:
        raise BetaVAEError(f"`betavae data {args.dataset}` needs --from FOLDER (your images)")
    from betavae.data.images import prepare_images
    from betavae.data.registry import default_folder_cache

    out = Path(args.out) if args.out else default_folder_cache(args.dataset)
    path = prepare_images(Path(args.source_folder), out, kind=args.dataset, size=args.size,
                          grayscale=args.grayscale, progress=not args.quiet, force=args.force)
    hint = "" if args.out is None else f" --data {path}"
    say(f"{args.dataset} ready: {path} (train with --dataset {args.dataset}{hint})")
    return 0


def train_config(args: argparse.Namespace):
    from betavae.config import RunConfig
    from betavae.models.registry import MODELS, model_spec

    given = flags_given(args, CONFIG)  # {"train.steps": 3000, "model_type": "vae", ...}
    if given.get("objective.beta") is not None and given.get("objective.beta_norm") is not None:
        raise BetaVAEError("give --beta or --beta-norm, not both (β_norm = β·M/N is derived from the other)")
    if (args.resume or args.restart) and not args.config and args.out:  # the saved config, changed by the flags
        from betavae.runs import RunDir

        return RunDir(args.out).resumed_config({**given, **model_settings_given(args)})
    config = RunConfig.load(args.config) if args.config else RunConfig()
    if "objective.beta" in given or "objective.beta_norm" in given:  # a flag replaces the file's β and β_norm
        config.objective.beta = config.objective.beta_norm = None
    if given.get("model_type", config.model_type) != config.model_type:
        config.section = None  # the file's section belongs to its model
    for path, value in given.items():
        section, _, name = path.rpartition(".")
        setattr(getattr(config, section) if section else config, name, value)
    spec = model_spec(config.model_type)
    for path, value in model_settings_given(args).items():
        key, field = path.split(".")
        if key != spec.section_key:
            flag = _model_flag(path)
            owners = ", ".join(name for name, other in MODELS.items() if other.section_key == key)
            raise BetaVAEError(f"{flag} is a setting of --model {owners}, not of --model {spec.name}; drop it or "
                               "choose that model")
        config.validate()  # gives the model its default section
        setattr(config.section, field, value)
    return config.validate()


def run_train(args: argparse.Namespace) -> int:
    config = train_config(args)
    if args.print_config:
        from betavae.data.registry import dataset_image_shape
        from betavae.models.registry import prepare_config

        config = prepare_config(config, dataset_image_shape(config.data.dataset, config.data.path))
        say(json.dumps(config.to_dict(), indent=2))
        return 0
    if not args.out:
        raise BetaVAEError("--out RUN_DIR is required: where checkpoints, log.jsonl and figures go")
    from betavae.train import train

    if args.resume and args.restart:
        raise BetaVAEError("give --resume (continue from the checkpoint) or --restart (train again from step 0 a run "
                           "whose checkpoint was lost), not both")
    result = train(config, args.out, resume=args.resume, progress=not args.quiet, restart=args.restart,
                   allow_fewer_cores=args.allow_fewer_cores)
    speed = f", {result.images_per_second:.0f} images/s" if result.images_per_second else " (already finished)"
    say(f"{result.state} at step {result.step}{speed}: {result.run_dir}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from betavae.demo import demo

    demo(out_dir=args.out, steps=args.steps, device=args.device)
    return 0


# Flags from before per-metric settings, kept as printed in the README: flag → (field, metrics it sets).
EVALUATE_SHORTHANDS = {
    "pairs": ("L", ("beta-vae", "beta-vae-dlib")), "train_points": ("num_train", ("beta-vae", "beta-vae-dlib")),
    "test_points": ("num_test", ("beta-vae", "beta-vae-dlib")), "table2_train": ("num_train", ("table2",)),
    "table2_test": ("num_test", ("table2",)), "no_standardize": ("classifier.standardize", ("beta-vae", "table2")),
}


def evaluate_settings(args: argparse.Namespace):
    """EvalSettings from `betavae evaluate`'s flags: --metrics, the per-metric flags, then the shorthands."""
    from betavae.evaluate import EvalSettings
    from betavae.metrics.registry import metric_names
    from betavae.settings import flag_name

    names = [name for name in metric_names(args.metrics)
             if not (args.no_dlib and name == "beta-vae-dlib" or args.no_table2 and name == "table2")]
    changes: dict[str, dict] = {}
    for dest, value in vars(args).items():
        if dest.startswith("setting:"):
            _, metric, path = dest.split(":")
            if metric not in names:
                raise BetaVAEError(f"{flag_name(metric, path)} sets {metric}, which is not scored; add it to --metrics")
            changes.setdefault(metric, {})[path] = value
    for flag, (path, metrics) in EVALUATE_SHORTHANDS.items():
        value = getattr(args, flag)
        if value is not None and value is not False and value < 1:  # 0 is a value given, not "unset"
            raise BetaVAEError(f"--{flag.replace('_', '-')} must be from 1 to {INT64[1]}, got {value}")
        if value is not None and value is not False:
            for metric in metrics:
                if metric in names:
                    changes.setdefault(metric, {}).setdefault(path, False if flag == "no_standardize" else value)
    if args.classifier_seeds < 1:
        raise BetaVAEError(f"--classifier-seeds must be >= 1, got {args.classifier_seeds}")
    return EvalSettings.of(names, changes=changes, classifier_seeds=tuple(range(args.classifier_seeds)),
                           sample_seed=args.sample_seed, threads=args.threads)


def run_evaluate(args: argparse.Namespace) -> int:
    from betavae.evaluate import evaluate_representation, evaluate_run, evaluation_file, format_table, save_evaluation
    from betavae.io import ensure_writable_file

    settings = evaluate_settings(args)
    if args.json and args.json != "-":  # before any work, not after an hour of it
        ensure_writable_file(args.json, "--json")
    if args.run_dir:
        result = evaluate_run(args.run_dir, settings, device=args.device, progress=not args.quiet, step=args.step)
    else:
        from betavae.baselines.registry import make_representation
        from betavae.data.registry import load_dataset

        data = load_dataset(args.dataset, args.data, progress=not args.quiet)
        representation = make_representation(args.representation, data, args.seed)
        result = evaluate_representation(representation, data, settings, progress=not args.quiet)
    if args.json == "-":  # the evaluation for a script on stdout, the table for the person on stderr
        print(format_table(result), file=sys.stderr)
        say(json.dumps(evaluation_file(result), indent=1))
        return 0
    say(format_table(result))
    if args.json:
        save_evaluation(result, args.json)
        say(f"written: {args.json}")
    return 0


def run_udr(args: argparse.Namespace) -> int:
    from betavae.metrics.udr import UDRSettings
    from betavae.settings import SettingError
    from betavae.udr import format_udr_table, udr_command

    try:
        settings = UDRSettings(**flags_given(args, "udr"))
    except SettingError as error:
        raise BetaVAEError(f"{error} (--{error.path.replace('_', '-')})") from None
    result, json_path, figure = udr_command(args.run_dirs, args.out, settings, args.device, args.threads,
                                            not args.quiet)
    say(format_udr_table(result))
    say(f"\nwritten: {json_path}, {figure}")
    return 0


def run_traverse(args: argparse.Namespace) -> int:
    from betavae.viz.figures import draw_run_figures

    for path in draw_run_figures(args.run_dir, num_seed_images=args.seed_images, seed=args.seed):
        say(path)
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    from betavae.experiments.reproduce import reproduce

    report = reproduce(args.experiment, budget=args.budget, out_dir=args.out, dataset=args.dataset,
                       data_path=args.data, device=args.device, workers=args.workers, progress=not args.quiet,
                       rows=args.rows, metrics=args.metrics, betas=args.betas, executor=args.executor,
                       address=args.address, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                       threads=args.threads)
    say(f"report: {report}")
    return 0


COMMANDS = {"data": run_data, "train": run_train, "evaluate": run_evaluate, "traverse": run_traverse,
            "reproduce": run_reproduce, "udr": run_udr, "demo": run_demo}

if __name__ == "__main__":
    raise SystemExit(main())
