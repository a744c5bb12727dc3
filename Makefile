# Atende — make targets. `make run` starts everything; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SERVICES := intake routing sla survey analytics
INFRA := deploy/local/infra.sh
RUN_DIR := $(or $(ATENDE_RUN_DIR),.run)

export ATENDE_KAFKA_BOOTSTRAP ?= 127.0.0.1:$(or $(KAFKA_PORT),19092)
export ATENDE_PG_PORT ?= $(or $(PG_PORT),15432)

.PHONY: help venv tools infra-up infra-down infra-status topics sweep-topics migrate schemas schemas-check \
        lint fmt test test-unit run stop status logs bench bench-quick faults eval-routing clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: constraints.txt requirements-dev.txt libs/events/pyproject.toml \
                    $(foreach s,$(SERVICES),services/$(s)/pyproject.toml)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[venv] installing the pinned Python packages into $(VENV) (the first time takes a few minutes)"
	@$(PY) -m pip install -c constraints.txt -r requirements-dev.txt \
	    -e libs/events $(foreach s,$(SERVICES),-e services/$(s))
	@touch $@

venv: $(VENV)/.installed ## Create .venv with every package, pinned by constraints.txt

tools: ## Install the system tools the tests use (docker-compose's parser, Chromium) when missing
	@command -v docker-compose >/dev/null || bash deploy/local/apt.sh docker-compose
	@test -x /usr/bin/chromium || bash deploy/local/apt.sh chromium

infra-up: venv ## Start PostgreSQL and Kafka under .run/ (installing them when missing) and create topics
	@bash $(INFRA) up
	@$(PY) -m atende_events.admin create-topics

infra-down: ## Stop PostgreSQL and Kafka (data is kept)
	@bash $(INFRA) down

infra-status: ## Tell whether PostgreSQL and Kafka are running
	@bash $(INFRA) status

topics: venv ## Create the contract's topics (several partitions each) and their DLQs
	@$(PY) -m atende_events.admin create-topics

sweep-topics: venv ## Delete the scratch topics tests and benchmarks left behind (not while they run)
	@$(PY) -m atende_events.admin sweep-scratch-topics

migrate: venv ## Upgrade every service's database to its newest migration
	@bash deploy/local/services.sh migrate

schemas: venv ## Regenerate the committed JSON Schemas and the AsyncAPI document
	@$(PY) -m atende_events.schemas export

schemas-check: venv ## Fail when the committed schemas differ from the code or change incompatibly
	@$(PY) -m atende_events.schemas check

lint: venv ## ruff (lint and format check) and mypy --strict
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy libs/events/src $(foreach s,$(SERVICES),services/$(s)/src) tests bench simulator faults

fmt: venv ## Format and autofix with ruff
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

test-unit: venv ## Run the unit tests only (no Kafka or PostgreSQL)
	@$(PY) -m pytest -q -m "not integration"

test: venv tools infra-up lint ## Start the infrastructure if needed, lint, and run every test
	@$(PY) -m pytest -q

run: infra-up migrate ## Start Kafka, PostgreSQL, the five services and a simulator (SIMULATE=0: none)
	@bash deploy/local/services.sh start
	@bash deploy/local/services.sh banner

stop: ## Stop the simulator and the five services, then Kafka and PostgreSQL
	@bash deploy/local/services.sh stop
	@bash $(INFRA) down

status: ## Show what runs: Kafka, PostgreSQL and each service with its readiness
	@bash $(INFRA) status
	@bash deploy/local/services.sh status

logs: ## Follow the services' and the simulator's logs
	@tail -n 20 -F $(RUN_DIR)/logs/*.log

bench: venv infra-up ## The full benchmark (about 40 minutes): prints a table, writes bench/results/
	@$(PY) -m bench.run

bench-quick: venv infra-up ## A 5-minute subset of the benchmark, for a change's before and after
	@$(PY) -m bench.run --quick

faults: venv ## Fault scenarios under load on a private system (about 40 min); FAULTS_ARGS=--help
	@$(PY) -m faults.run $(FAULTS_ARGS)

eval-routing: venv ## Routing's accuracy per demand type and urgent-flag recall, held-out set
	@$(PY) -m bench.eval_routing

clean: stop ## Stop everything and remove the data under .run/ (the jar cache is kept)
	@bash $(INFRA) clean
