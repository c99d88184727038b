# faas: `make up` runs the platform, `make test` proves it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv lock engine images up down cluster cluster-down lint unit e2e test fuzz bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# Every package at the version and hash of requirements-dev.lock, then this project itself
# (its build backend, setuptools, is in the lock too, hence no build isolation).
$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP) ## create .venv with the gateway and the development tools, as locked

# Both locks come from pyproject.toml's ranges, resolved for every platform and Python the
# project supports; the gateway's lock takes the development lock's versions, so the images
# run what CI tested. README, "Dependencies", says when and how to upgrade.
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock'
lock: $(STAMP) ## re-resolve the locks from pyproject.toml (UPGRADE=1: all to the newest, PACKAGE=name: one)
	$(UV_COMPILE) --extra dev $(if $(UPGRADE),--upgrade) \
		$(if $(PACKAGE),--upgrade-package $(PACKAGE)) -o requirements-dev.lock
	$(UV_COMPILE) --constraint requirements-dev.lock -o requirements.lock

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
	$(BIN)/pytest -m swarm --durations=20

test: lint unit e2e ## everything CI runs: lint, unit and end-to-end tests

# The unit suite runs the same properties derandomized with few examples (docs/security.md).
fuzz: $(STAMP) ## the HTTP chain's differential fuzzer, long run: random, many examples
	FAAS_FUZZ=long $(BIN)/pytest -q -p no:randomly --timeout 0 tests/watchdog/test_parser_fuzz.py \
		tests/gateway/test_chain_fuzz.py

bench: $(STAMP) fuzz ## benchmarks (and `make fuzz`): local, and on the swarm when root and a swarm is active (not in make test)
	$(BIN)/python -m bench

clean: ## remove the virtualenv, wheelhouse and caches
	rm -rf $(VENV) wheels .mypy_cache .ruff_cache .pytest_cache
