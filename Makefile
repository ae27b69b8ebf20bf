# carrental-analytics: `make help` lists every target.
# `make run` and `make test` create or refresh the virtualenv themselves (from uv.lock).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
STAMP := $(VENV)/.synced-$(UV_VERSION)
LAKE ?= lake
TRANSACTIONS ?= 20000
export DBT_PROFILES_DIR ?= $(CURDIR)/.dbt
export CARRENTAL_WAREHOUSE ?= $(CURDIR)/$(LAKE)/warehouse.duckdb
CARRENTAL := $(VENV)/bin/carrental
PROFILE := .dbt/profiles.yml

.PHONY: help setup check-java run test lint format dbt-build docs bench reliability clean

help: ## List every target
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml uv.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null
	@$(VENV)/bin/uv --version 2>/dev/null | grep -q "$(UV_VERSION)" || $(PY) -m pip install -q "uv==$(UV_VERSION)"
	@# --compile-bytecode: every job process (and the bench) starts from .pyc files, also where
	@# PYTHONDONTWRITEBYTECODE is set (about 3 s less per DuckDB-engine job start)
	@UV_PROJECT_ENVIRONMENT=$(VENV) $(VENV)/bin/uv sync --frozen --all-extras --inexact --quiet --compile-bytecode
	@rm -f $(VENV)/.synced-*
	@touch $@

$(PROFILE): profiles.example.yml
	@mkdir -p $(dir $@)
	@cp profiles.example.yml $@

setup: $(STAMP) $(PROFILE) check-java ## Create or refresh the virtualenv from uv.lock (run and test do this too)

check-java: $(STAMP) ## Fail with a one-line hint unless Java 17 or 21 is installed
	@$(PY) -m carrental.java

run: setup ## Generate sample data if the lake is empty, then run the whole pipeline locally
	@$(CARRENTAL) run --lake-dir $(LAKE) --generate-if-empty $(TRANSACTIONS)

test: setup ## Run the whole test suite (installs what it needs)
	@bash scripts/ensure-chromium.sh
	@$(PY) -m pytest

reliability: setup ## Hostile-input corpus and fault injection, with a summary
	@$(PY) -m pytest -m reliability -p tests.reliability_summary

lint: setup ## ruff (lint + format check), sqlfluff, cfn-lint and checkov
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@if ls dbt_project/models/*/*.sql >/dev/null 2>&1; then $(VENV)/bin/sqlfluff lint dbt_project/models dbt_project/tests dbt_project/macros; fi
	@if ls orchestration/cloudformation/*.yaml >/dev/null 2>&1; then \
		$(VENV)/bin/cfn-lint orchestration/cloudformation/*.yaml && \
		BC_SKIP_MAPPING=TRUE $(VENV)/bin/checkov --quiet --compact --framework cloudformation -d orchestration/cloudformation; fi

format: setup ## Apply ruff fixes and formatting, and sqlfluff fixes
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/sqlfluff fix dbt_project/models

dbt-build: setup ## dbt build (every model and test) against the default lake's warehouse
	@$(CARRENTAL) dbt --lake-dir $(LAKE) -- build

docs: setup ## dbt docs generate, then serve them on http://localhost:8080
	@$(CARRENTAL) dbt --lake-dir $(LAKE) -- docs generate
	@$(CARRENTAL) dbt --lake-dir $(LAKE) -- docs serve --port $${DOCS_PORT:-8080}

bench: setup ## Benchmark against the seed-style baseline (BENCH_ARGS="--transactions 10000000")
	@$(PY) -m bench $(BENCH_ARGS)

clean: ## Remove the default lake, dbt target and logs (keeps the virtualenv)
	rm -rf $(LAKE) target logs dbt_packages .pytest_cache
