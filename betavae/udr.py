"""`betavae udr RUN RUN …`: rank trained runs without labels by UDR (Duan et al. 2020; the arithmetic is in
``metrics/udr.py``).

Every run encodes the same images: ``settings.num_points`` drawn uniformly with replacement from the data the runs
were trained on, by ``default_rng([sample_seed, UDR_STREAM])`` (through the factors on a ground-truth dataset, by
index on an image folder). Each run's mean codes μ(x) and mean KL per latent, KL(q(z_i|x) || N(0, 1)) averaged over
those images, are kept in ``RUN/udr/`` (``codes.json``, a keyed store, and one ``KEY.npy`` of codes per entry), keyed
by what decides them: the data's identity, the images drawn, the checkpoint step and the torch threads. Adding a run
to the set, or switching Spearman for Lasso, encodes nothing again.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from betavae.errors import BetaVAEError
from betavae.io import atomic_write_bytes, atomic_write_json
from betavae.metrics.codes import sample_images
from betavae.metrics.udr import UDRSettings, udr_scores
from betavae.store import ResultStore, result_key

UDR_VERSION = 1  # bump when a change moves the cached codes or KLs
UDR_STREAM = 100  # the images' stream, apart from every metric's
ENCODE_BATCH = 500


def run_data_identity(run_dir: Path) -> tuple[Any, dict]:
    """The dataset a run was trained on (the whole grid, also for a subset) and what identifies it."""
    from betavae.evaluate import data_identity, run_dataset

    data = run_dataset(run_dir, progress=False)
    return data, data_identity(data)


def common_data(run_dirs: list[Path]) -> Any:
    """The one dataset all runs were trained on; refuses runs of different data (other images, sizes or colours)."""
    from betavae.runs import RunDir

    seen: dict[tuple, tuple[Any, dict]] = {}
    described = []
    for run_dir in run_dirs:
        config = RunDir(run_dir).config()
        source = (config.data.dataset, config.data.path)
        if source not in seen:
            seen[source] = run_data_identity(run_dir)
        data, identity = seen[source]
        described.append((run_dir, data, identity))
    first_dir, first, first_identity = described[0]
    for run_dir, data, identity in described[1:]:
        if identity != first_identity:
            shape = "×".join(map(str, first.image_shape))
            other = "×".join(map(str, data.image_shape))
            raise BetaVAEError(f"{run_dir} was trained on {data.name} ({data.num_images} images of {other}), "
                               f"{first_dir} on {first.name} ({first.num_images} images of {shape}); UDR compares "
                               "runs on the same images: give runs trained on one dataset")
    return first


def run_encodings(run_dir: Path, data: Any, indices: np.ndarray, settings: UDRSettings, device: str = "cpu",
                  threads: int = 1) -> tuple[np.ndarray, np.ndarray, dict]:
    """A run's mean codes float[n, d] and mean KL per latent float[d] on ``data``'s images ``indices``, cached in
    ``RUN/udr/`` (see the module docstring); also the run's description (step, model, latents)."""
    from betavae.evaluate import data_identity
    from betavae.runs import RunDir

    run = RunDir(run_dir)
    step = run.checkpoint_step()
    identity = {"version": UDR_VERSION, "data": data_identity(data), "num_points": settings.num_points,
                "sample_seed": settings.sample_seed, "step": step, "threads": threads}
    key = result_key(identity)
    store = ResultStore(Path(run_dir) / "udr" / "codes.json", section="encodings")
    codes_path = Path(run_dir) / "udr" / f"{key}.npy"
    entry = store.get(key)
    if entry is None or not codes_path.exists():
        codes, kl, model_type = _encode(run_dir, data, indices, device, threads)
        buffer = io.BytesIO()
        np.save(buffer, codes)
        atomic_write_bytes(codes_path, buffer.getvalue())
        entry = store.put(key, {"identity": identity, "kl": kl.tolist(), "model_type": model_type,
                                "latents": int(codes.shape[1])})
    codes = np.load(codes_path)
    about = {"run": str(run_dir), "step": step, "model_type": entry["model_type"], "latents": entry["latents"]}
    return codes, np.asarray(entry["kl"], dtype=np.float64), about


def _encode(run_dir: Path, data: Any, indices: np.ndarray, device: str, threads: int
            ) -> tuple[np.ndarray, np.ndarray, str]:
    """μ(x) and the mean KL per latent of q(z|x) = N(μ, σ²) against N(0, 1), over ``indices``."""
    import torch

    from betavae.models.vae import kl_per_latent
    from betavae.runs import load_model
    from betavae.threads import torch_threads
    from betavae.train import resolve_device

    with torch_threads(threads):
        config, model = load_model(run_dir, resolve_device(device))
        if not callable(getattr(model, "encode", None)):  # the VAE family's q(z|x) = (μ, log σ²); InfoGAN has none
            raise BetaVAEError(f"{run_dir} is a {config.model_type} run; UDR needs a model with a Gaussian encoder "
                               "q(z|x) (beta-vae, factor-vae, beta-tcvae, dip-vae, dcign) for its KL per latent")
        device_of = next(model.parameters()).device
        codes, kl_sum = [], None
        with torch.no_grad():
            for start in range(0, len(indices), ENCODE_BATCH):
                batch = torch.from_numpy(data.images(indices[start:start + ENCODE_BATCH])).to(device_of).float() / 255
                mean, logvar = model.encode(batch)
                codes.append(mean.float().cpu().numpy())
                kl = kl_per_latent(mean, logvar).double().sum(0).cpu()
                kl_sum = kl if kl_sum is None else kl_sum + kl
    return np.concatenate(codes), (kl_sum / len(indices)).numpy(), config.model_type


def compute_udr(run_dirs: list[str | Path], settings: UDRSettings | None = None, device: str = "auto",
                threads: int = 1, progress: bool = True) -> dict:
    """UDR of each run among ``run_dirs`` (Duan et al. 2020): scores, pairwise scores, active latents, settings."""
    from betavae.progress import progress_bar

    settings = settings or UDRSettings()
    run_dirs = [Path(run_dir) for run_dir in run_dirs]
    if len(run_dirs) < 2:
        raise BetaVAEError("UDR compares runs with each other: give at least two run directories")
    if len({run_dir.resolve() for run_dir in run_dirs}) != len(run_dirs):
        raise BetaVAEError("a run is given twice; give each run directory once")
    data = common_data(run_dirs)
    indices = sample_images(data, settings.num_points, np.random.default_rng([settings.sample_seed, UDR_STREAM]))
    encodings = [run_encodings(run_dir, data, indices, settings, device, threads)
                 for run_dir in progress_bar(run_dirs, desc="encoding runs", unit="run", disable=not progress)]
    scores = udr_scores([codes for codes, _, _ in encodings], [kl for _, kl, _ in encodings], settings)
    runs = [{**about, "udr": score, "kl": kl.tolist(), "active_latents": int(sum(active))}
            for (_, kl, about), score, active in zip(encodings, scores["scores"], scores["active"])]
    return {"method": "UDR (Duan et al. 2020)", "settings": asdict(settings), "threads": threads,
            "data": {"name": data.name, "num_images": data.num_images, "image_shape": list(data.image_shape)},
            "runs": runs, "labels": run_labels(run_dirs), "pairwise": scores["pairwise"]}


def run_labels(run_dirs: list[Path]) -> list[str]:
    """Short names for the runs: their folder names, with the parent folder where two are alike."""
    names = [run_dir.name for run_dir in run_dirs]
    if len(set(names)) == len(names):
        return names
    return [f"{run_dir.parent.name}/{run_dir.name}" for run_dir in run_dirs]


def format_udr_table(result: dict) -> str:
    """The runs, best UDR first, as a text table."""
    settings = result["settings"]
    order = sorted(range(len(result["runs"])), key=lambda i: -result["runs"][i]["udr"])
    width = max(len(label) for label in result["labels"]) + 2
    lines = [f"UDR ({settings['correlation']}) of {len(order)} runs on {result['data']['name']}, "
             f"{settings['num_points']} images, latents with KL <= {settings['kl_threshold']:g} left out", "",
             f"{'rank':<6}{'run':<{width}}{'UDR':>7}  {'active':>6}  step"]
    for rank, index in enumerate(order, 1):
        run = result["runs"][index]
        lines.append(f"{rank:<6}{result['labels'][index]:<{width}}{run['udr']:>7.3f}  "
                     f"{run['active_latents']:>3}/{run['latents']:<2}  {run['step']}")
    return "\n".join(lines)


def write_udr(result: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """``OUT/udr.json`` and ``OUT/udr.png`` (the heat map of pairwise scores), both written atomically."""
    out_dir = Path(out_dir)
    return atomic_write_json(out_dir / "udr.json", result), draw_pairwise(result, out_dir / "udr.png")


def draw_pairwise(result: dict, path: Path) -> Path:
    """A heat map of the pairwise scores: row a, column b scores the pair (a, b); each column's median is b's UDR."""
    from betavae.viz.canvas import new_figure, save_png

    labels, pairwise = result["labels"], result["pairwise"]
    count = len(labels)
    matrix = np.array([[np.nan if value is None else value for value in row] for row in pairwise], dtype=float)
    side = 2.5 + 0.6 * count
    figure = new_figure(side + 1.2, side)
    axes = figure.subplots()
    image = axes.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    for a in range(count):
        for b in range(count):
            if a != b:
                axes.text(b, a, f"{matrix[a, b]:.2f}", ha="center", va="center", fontsize=7,
                          color="white" if matrix[a, b] < 0.6 else "black")
    axes.set_xticks(range(count), [f"{label}\nUDR {run['udr']:.2f}" for label, run in zip(labels, result["runs"])],
                    rotation=45, ha="right", fontsize=7)
    axes.set_yticks(range(count), labels, fontsize=7)
    axes.set_xlabel("run b (its UDR: the median of its column)")
    axes.set_ylabel("run a")
    axes.set_title(f"UDR pairwise scores ({result['settings']['correlation']})")
    figure.colorbar(image, ax=axes, shrink=0.8)
    return save_png(figure, path)


def udr_command(run_dirs: list[str | Path], out_dir: str | Path, settings: UDRSettings, device: str = "auto",
                threads: int = 1, progress: bool = True) -> tuple[dict, Path, Path]:
    """What `betavae udr` does: the UDR of the runs, written to ``out_dir`` (udr.json, udr.png)."""
    from betavae.io import ensure_writable_dir
    from betavae.runs import RunDir

    for run_dir in run_dirs:  # a mistyped run is refused before the output folder is made
        RunDir(run_dir).config()
    ensure_writable_dir(out_dir)  # before any encoding
    result = compute_udr(run_dirs, settings, device, threads, progress)
    return (result, *write_udr(result, out_dir))
