import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is a dependency: run `make setup` (or pip install -e .) first")
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BETAVAE_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture
def tiny_config():
    """A seconds-long β-VAE run on the synthetic squares (64×64, 192 images); the small Burgess conv net by
    default, so checkpoints are 2 MB rather than the MLP's 170 MB."""
    from betavae.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    def make(arch="burgess", **train):
        values = {"steps": 20, "batch_size": 16, "checkpoint_every": 10, "log_every": 5, "device": "cpu"}
        values.update(train)
        return RunConfig(data=DataConfig(dataset="synthetic-squares"), model=ModelConfig(arch=arch),
                         train=TrainConfig(**values))

    return make


@pytest.fixture
def damage_zip_member():
    """A function inverting 4 bytes in the middle of one member's compressed data in a zip (.npz) file."""
    import zipfile

    def damage(path: Path, member: str) -> None:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
        with open(path, "r+b") as handle:
            handle.seek(info.header_offset + 30 + len(info.filename) + info.compress_size // 2)
            damaged = bytes(255 - b for b in handle.read(4))
            handle.seek(-4, 1)
            handle.write(damaged)

    return damage
