import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BETAVAE_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture
def tiny_config():
    """A seconds-long β-VAE run on the synthetic squares (64×64, 192 images)."""
    from betavae.config import DataConfig, RunConfig, TrainConfig

    def make(**train):
        values = {"steps": 20, "batch_size": 16, "checkpoint_every": 10, "log_every": 5, "device": "cpu"}
        values.update(train)
        return RunConfig(data=DataConfig(dataset="synthetic-squares"), train=TrainConfig(**values))

    return make
