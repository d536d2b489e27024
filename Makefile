# abkit: `make run` and `make test` are the two commands a user needs; both set up .venv first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
EXP ?=
ARGS ?=
# What is typed after EXP= or ARGS= is data: taken literally ($(value), so make expands nothing in
# it), handed to the shell only as an environment variable ("$$EXP"), never as recipe text. abkit
# then checks the name (1 to 64 of A-Za-z0-9._-).
override EXP := $(value EXP)
override ARGS := $(value ARGS)
export EXP ARGS

# Kernels started by papermill / nbval inherit these: this venv's python, stable set ordering.
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0

.PHONY: help setup run test lab notebooks new clean distclean lint data exercises

help: ## list the targets
	@echo "abkit: A/B testing kit for fine-tuned LLMs"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'
	@echo
	@echo "  make run EXP=name   run experiments/name/ with its experiment.yaml"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,mlflow]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the kit with its dev tools (idempotent)

run: setup ## execute every template with its defaults into reports/ (or EXP=name: that experiment)
ifeq ($(strip $(EXP)),)
	$(BIN)/abkit run
else
	$(BIN)/abkit run --exp "$$EXP"
endif

test: setup ## run every test (two workers): unit, references, papermill matrix, nbval over notebooks/; lists the 25 slowest
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25

lab: setup ## open JupyterLab at the kit's root (notebooks/, experiments/, reports/); ARGS=... passes on
	$(BIN)/jupyter lab --notebook-dir="$(CURDIR)" $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $$ARGS

notebooks: setup ## re-execute the committed templates and workshop solutions in place
	$(BIN)/abkit notebooks
	$(BIN)/abkit workshop

exercises: setup ## derive the workshop exercises from their solutions
	$(BIN)/abkit workshop

new: setup ## create experiments/EXP: experiment.yaml (every key commented) and its notebooks (EXP=name)
	$(if $(strip $(EXP)),,$(error usage: make new EXP=name))
	$(BIN)/abkit new "$$EXP"

data: setup ## regenerate the bundled logs in data/ (fixed seeds)
	$(BIN)/abkit simulate --bundled

lint: setup ## ruff over the package and tests
	$(BIN)/ruff check abkit tests benchmarks

clean: ## remove reports and caches (keeps .venv)
	rm -rf reports .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
