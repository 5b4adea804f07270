"""Paper experiments, one file each; `runner.py` trains their sweeps (parallel, resumable)."""
