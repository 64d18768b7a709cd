# sparsegrad: `make train` and `make test` work on a fresh clone (they install what they need).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
STAMPS := .make
ARGS ?=
PORT ?= 5000
HOST ?= 127.0.0.1

.PHONY: install install-dev test lint format train ui server bench clean

install: $(STAMPS)/install          ## runtime dependencies + sparsegrad (editable)
$(STAMPS)/install: pyproject.toml
	$(PIP) install -e .
	@mkdir -p $(STAMPS) && touch $@

install-dev: $(STAMPS)/install-dev  ## + test and lint tools
$(STAMPS)/install-dev: pyproject.toml
	$(PIP) install -e ".[dev]"
	@mkdir -p $(STAMPS) && touch $@ $(STAMPS)/install

test: install-dev                   ## the whole test suite
	$(PYTHON) -m pytest

lint: install-dev                   ## ruff
	$(PYTHON) -m ruff check .

format: install-dev
	$(PYTHON) -m ruff check --fix .

train: install                      ## train with the default config: make train ARGS="optimizer=sgd beta=0.5"
	$(PYTHON) scripts/train.py $(ARGS)

ui: install                         ## browse the runs: http://127.0.0.1:$(PORT)
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --port $(PORT)

server: install                     ## a shared tracking server: make server HOST=0.0.0.0; jobs log with tracking.uri=http://HOST:PORT
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow server --backend-store-uri sqlite:///$(CURDIR)/mlflow.db \
	  --artifacts-destination $(CURDIR)/mlartifacts --host $(HOST) --port $(PORT)

bench: install-dev                  ## speed against a hand-written NumPy step (and PyTorch if installed)
	$(PYTHON) scripts/bench.py $(ARGS)

clean:
	rm -rf $(STAMPS) .pytest_cache outputs multirun
