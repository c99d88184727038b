# faas: `make up` runs the platform, `make test` proves it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv engine images up down cluster cluster-down lint unit e2e test bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP) ## create .venv with the gateway and the development tools

engine: ## bare Debian/Ubuntu as root: install and start Docker Engine + swarm, build local images
	scripts/engine.sh

images: $(STAMP) ## build the watchdog, sample function and gateway images
	scripts/images.sh

up: $(STAMP) ## build, deploy the stack and wait until everything answers
	scripts/up.sh

down: ## remove the stack (the functions network stays)
	scripts/down.sh

cluster: ## add 2 worker nodes on this machine (engines in containers) and a registry
	scripts/cluster.sh up

cluster-down: ## remove the nodes and the registry of `make cluster`
	scripts/cluster.sh down

lint: $(STAMP) ## ruff (lint and format) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP) ## tests without Docker: watchdog and gateway as real local processes
	$(BIN)/pytest -m "not swarm"

e2e: $(STAMP) ## end-to-end tests on a real Docker Swarm (deploys the stack)
	$(BIN)/pytest -m swarm

test: lint unit e2e ## everything CI runs: lint, unit and end-to-end tests

bench: $(STAMP) ## benchmarks: local, and on the swarm when root and a swarm is active (not in make test)
	$(BIN)/python -m bench

clean: ## remove the virtualenv, wheelhouse and caches
	rm -rf $(VENV) wheels .mypy_cache .ruff_cache .pytest_cache
