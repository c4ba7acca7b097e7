# evosandbox: `make demo` and `make test` set everything up on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-out

.PHONY: demo test lint format benchmarks clean
# The whole tree is kept in ruff format (make format applies it; make lint checks it).
FORMATTED := .

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,dask]"
	touch $(STAMP)

test: lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check $(FORMATTED)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format $(FORMATTED)

# The whole pipeline: baselines, a short evolution on the red-door world, the champion probed
# on the test world (blue door, red decoys), a replay with a picture and an animation, and the
# champion's line of descent. Outputs go to $(DEMO_DIR)/ and replays/demo-champion.h5.
demo: $(STAMP)
	$(BIN)/evosandbox worlds baselines worlds/red-doors-train.toml worlds/red-doors-test.toml --episodes 200
	$(BIN)/evosandbox evolve configs/demo.toml --out $(DEMO_DIR)/run --force --progress
	$(BIN)/evosandbox probe $(DEMO_DIR)/run --world worlds/red-doors-test.toml --episodes 1000
	$(BIN)/evosandbox replay $(DEMO_DIR)/run --world worlds/red-doors-test.toml --episodes 8 --out replays/demo-champion.h5 --force
	$(BIN)/evosandbox view replays/demo-champion.h5 --contact-sheet --export $(DEMO_DIR)/champion.png --force
	$(BIN)/evosandbox view replays/demo-champion.h5 --export $(DEMO_DIR)/champion.gif --force
	$(BIN)/evosandbox lineage $(DEMO_DIR)/run --reevaluate --world worlds/red-doors-test.toml --episodes 200 --csv $(DEMO_DIR)/phylogeny.csv --plot $(DEMO_DIR)/lineage.png --force

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .hypothesis
