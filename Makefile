# Visitor Board: the two commands a fresh machine needs are `make demo` and `make test` (run as root).
# Every target installs what it needs first, idempotently: apt packages and host fixes, the controller
# venv (pinned), the EC2-like host image. Stamps keep re-runs fast.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STATE := .localcloud
ROLES := visitor_board_table visitor_board_secret visitor_board_iam visitor_board_ec2 visitor_board_lb visitor_board_app visitor_board_front visitor_board_tls

export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
# Nothing run from here may reach real AWS or the metadata address: every tool that could runs with the
# local cloud's one fake-AWS environment (localcloud.awsenv: fake keys, no metadata probing).
FAKE_AWS := $(BIN)/python -m localcloud.awsenv

.PHONY: help setup host-packages venv image demo demo-down run lint test test-app test-roles test-molecule \
	test-e2e bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

host-packages: ## apt packages, podman host fixes, the project's podman networks (root, idempotent)
	bash tests/localcloud/setup-host.sh

$(VENV)/.installed: requirements.txt app/requirements.txt app/pyproject.toml tests/localcloud/pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r app/requirements.txt
	$(BIN)/pip install --quiet --no-deps -e app -e tests/localcloud
	touch $@

venv: host-packages $(VENV)/.installed ## the controller venv (pinned requirements + the app and the local cloud, editable)

image: venv ## the EC2-like systemd host image (built once, cached)
	bash tests/localcloud/build-host-image.sh

setup: host-packages venv image ## everything the demo and the tests need

demo: setup ## bring up the local fleet (moto, metadata stand-in, 3 hosts) and roll out site.yml on it
	bash tests/localcloud/demo.sh up

demo-down: ## stop the local fleet
	@if [ -x $(BIN)/python ]; then bash tests/localcloud/demo.sh down; else echo "nothing to stop"; fi

run: venv ## run the app alone on this machine (moto in-process as DynamoDB), http://127.0.0.1:3000
	$(BIN)/visitor-board dev

lint: venv ## ruff and ansible-lint (production profile)
	ruff check app tests bench roles playbooks
	ruff format --check app tests bench roles playbooks
	ansible-lint --profile production roles playbooks

test-app: venv ## app, harness and role-variable tests (pytest, real moto over HTTP, real browser)
	$(FAKE_AWS) pytest -n 2 --dist loadscope --durations=10 tests/app tests/harness tests/roles

test-molecule: setup ## molecule test for every role
	for role in $(ROLES); do (cd roles/$$role && $(FAKE_AWS) molecule test) || exit 1; done

test-e2e: setup ## site.yml end to end on a fresh local fleet
	$(FAKE_AWS) pytest --durations=0 tests/e2e

test: setup lint test-app test-molecule test-e2e ## every test

bench: setup ## benchmarks (print figures)
	$(FAKE_AWS) python bench/bench_app.py
	$(FAKE_AWS) python bench/bench_site.py
	$(FAKE_AWS) python bench/bench_front.py

clean: demo-down ## remove the venv and local state (keeps the host image)
	rm -rf $(VENV) $(STATE) .ansible
