"""A tiny ground-truth dataset for tests and demos: squares of known size and position.

Renders instantly, needs no files, and has the same contract as dSprites, so every metric,
baseline and training path can be exercised in seconds.
"""

from __future__ import annotations

import numpy as np

from betavae.data.ground_truth import GroundTruthData, check_indices


class SyntheticSquares(GroundTruthData):
    """Filled squares on a black background: factors (size, pos_x, pos_y); 64×64 like ``--dataset
    synthetic-squares`` and the paper's networks (a smaller ``image_size`` suits the linear baselines' tests)."""

    name = "synthetic-squares"
    factor_names = ("size", "pos_x", "pos_y")

    def __init__(self, image_size: int = 64, num_sizes: int = 3, num_positions: int = 8):
        if image_size < 8 or num_sizes < 1 or num_positions < 1:
            raise ValueError("image_size >= 8, num_sizes >= 1 and num_positions >= 1 are required")
        self.image_size = image_size
        self.factor_sizes = (num_sizes, num_positions, num_positions)
        self.image_shape = (1, image_size, image_size)
        self.side_lengths = np.linspace(2, image_size // 3, num_sizes).round().astype(int)

    def factor_values(self, name: str) -> np.ndarray:
        """size: the side length in pixels; positions: the class index."""
        return self.side_lengths.astype(np.float64) if name == "size" else super().factor_values(name)

    def images(self, indices: np.ndarray) -> np.ndarray:
        indices = check_indices(indices, self.num_images)
        size, pos_x, pos_y = self.factors(indices).T
        side = self.side_lengths[size]
        free = self.image_size - side
        num_positions = self.factor_sizes[1]
        left = np.round(pos_x * free / max(num_positions - 1, 1)).astype(int)
        top = np.round(pos_y * free / max(num_positions - 1, 1)).astype(int)
        grid = np.arange(self.image_size)
        cols = (grid[None, :] >= left[:, None]) & (grid[None, :] < (left + side)[:, None])
        rows = (grid[None, :] >= top[:, None]) & (grid[None, :] < (top + side)[:, None])
        masks = rows[:, :, None] & cols[:, None, :]
        return (masks[:, None] * np.uint8(255)).astype(np.uint8)
