# sparsegrad: `make train` and `make test` work on a fresh clone (they install what they need).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
ARGS ?=
PORT ?= 5000
NOTEBOOK_PORT ?= 8888
HOST ?= 127.0.0.1
STORE ?= $(CURDIR)/mlflow.db
UI_WORKERS ?= 1
# Install stamps belong to one interpreter: a new virtualenv (or another PYTHON) has its own
# folder under .make/, so it installs again instead of trusting another environment's stamp.
ENV_ID := $(shell $(PYTHON) -c 'import hashlib, sys; print(hashlib.sha1(f"{sys.prefix} {sys.executable}".encode()).hexdigest()[:12])' 2>/dev/null || echo no-python)
STAMPS := .make/$(ENV_ID)

.PHONY: install install-lib install-notebooks install-dev notebooks test test-fast lint format train ui server allowed-hosts bench clean

install-lib: $(STAMPS)/lib          ## the library alone (NumPy only), editable
$(STAMPS)/lib: pyproject.toml
	$(PIP) install -e .
	@mkdir -p $(STAMPS) && echo $(PYTHON) > $@

install: $(STAMPS)/experiments      ## + the experiment runner's extra: Hydra, MLflow, matplotlib, keras, ...
$(STAMPS)/experiments: pyproject.toml
	$(PIP) install -e ".[experiments]"
	@mkdir -p $(STAMPS) && echo $(PYTHON) > $@ && touch $(STAMPS)/lib

install-notebooks: $(STAMPS)/notebooks  ## + JupyterLab and ipywidgets, for notebooks/
$(STAMPS)/notebooks: pyproject.toml
	$(PIP) install -e ".[notebooks]"
	@mkdir -p $(STAMPS) && echo $(PYTHON) > $@ && touch $(STAMPS)/experiments $(STAMPS)/lib

install-dev: $(STAMPS)/dev          ## + test and lint tools
$(STAMPS)/dev: pyproject.toml
	$(PIP) install -e ".[dev]"
	@mkdir -p $(STAMPS) && echo $(PYTHON) > $@ && touch $(STAMPS)/notebooks $(STAMPS)/experiments $(STAMPS)/lib

test: install-dev                   ## the whole test suite (what CI runs)
	$(PYTHON) -m pytest

test-fast: install-dev              ## the suite without the `slow` tests (subprocesses, servers, notebooks), on every core: < 1 min
	$(PYTHON) -m pytest -m "not slow" -n auto

lint: install-dev                   ## ruff
	$(PYTHON) -m ruff check .

format: install-dev
	$(PYTHON) -m ruff check --fix .

train: install                      ## train with the default config: make train ARGS="optimizer=sgd beta=0.5"
	$(PYTHON) scripts/train.py $(ARGS)

# As root (a container, CI) Jupyter refuses to start without --allow-root.
notebooks: install-notebooks        ## JupyterLab on notebooks/ at http://$(HOST):$(NOTEBOOK_PORT): open the link it prints (with its token)
	$(PYTHON) -m jupyter lab --no-browser --ip $(HOST) --port $(NOTEBOOK_PORT) --notebook-dir $(CURDIR)/notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

# MLflow 3's UI opens an experiment on GenAI traces unless its URL says workflowType=machine_learning:
# `make ui` prints that link for each experiment of the store, and runs without MLflow's job runner
# (GenAI jobs: a runner and seven huey consumers), with one worker: a UI for one person. make ui STORE=other.db PORT=5001
ui: install                         ## browse the runs: prints each experiment's link, serves http://$(HOST):$(PORT)
	@$(PYTHON) scripts/ui_links.py $(STORE) http://$(HOST):$(PORT)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(PYTHON) -m mlflow ui --backend-store-uri sqlite:///$(STORE) \
	  --host $(HOST) --port $(PORT) --workers $(UI_WORKERS)

# The Host headers the server answers (MLflow refuses others as DNS rebinding): the address it
# serves, this machine's name, and loopback, each with and without the port. A team adds the
# names its machines use for the server: make server HOST=0.0.0.0 ALLOWED_HOSTS="$$(make -s allowed-hosts),srv.lab"
SERVER_NAMES = $(sort $(HOST) $(shell hostname) $(shell hostname -f 2>/dev/null) localhost 127.0.0.1)
ALLOWED_HOSTS ?= $(subst $(eval) ,$(comma),$(foreach h,$(SERVER_NAMES),$(h) $(h):$(PORT)))
comma := ,

allowed-hosts:
	@echo "$(ALLOWED_HOSTS)"

server: install                     ## a shared tracking server: make server HOST=0.0.0.0; jobs log with tracking.uri=http://HOST:PORT
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(PYTHON) -m mlflow server --backend-store-uri sqlite:///$(CURDIR)/mlflow.db \
	  --artifacts-destination $(CURDIR)/mlartifacts --host $(HOST) --port $(PORT) --allowed-hosts "$(ALLOWED_HOSTS)"

bench: install-dev                  ## speed against a hand-written NumPy step (and PyTorch if installed)
	$(PYTHON) scripts/bench.py $(ARGS)

clean:
	rm -rf .make .pytest_cache outputs multirun
