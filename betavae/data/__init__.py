"""Datasets: ground-truth data (dSprites, synthetic) and image folders (CelebA, chairs, faces)."""
