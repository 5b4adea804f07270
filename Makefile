# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch that this project's machines have on disk; library users get torch>=2.2 unpinned.
TORCH_CPU := torch==2.13.0

.PHONY: setup demo test test-all lint bench clean

$(BIN)/betavae: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_CPU)
	$(BIN)/pip install -q -e '.[dev,shapes3d]'  # h5py: the Shapes3D tests read real HDF5 files
	touch $@

setup: $(BIN)/betavae

demo: setup
	$(BIN)/betavae demo

test: setup
	$(BIN)/ruff check betavae tests benchmarks
	$(BIN)/python -m pytest -q

test-all: setup  ## also the slow end-to-end checks
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: setup
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
