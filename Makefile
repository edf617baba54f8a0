# Lattice Sandbox. Every target runs on the project's pinned Node 24 (node_modules/.bin first on PATH).
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
CACHE ?= $(HOME)/.cache/lattice


.PHONY: help system-packages deps tools test test-unit lint format typecheck bench demo demo-down cluster-up cluster-down crds clean

help:
	@echo "make demo        local control plane + operator + sample sandboxes, then their status"
	@echo "make demo-down   stop everything make demo started"
	@echo "make test        every test CI runs (installs npm deps and builds tools first)"
	@echo "make test-unit   only the tests that need no external service"
	@echo "make lint        biome + tsc --noEmit"
	@echo "make bench       benchmarks, printed as tables next to their comparison peers"
	@echo "make cluster-up / cluster-down   the local Kubernetes control plane alone"

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

# Debian packages the tests, demo and benchmarks run (installs only what is missing).
system-packages:
	bash e2e/setup/system-packages.sh

tools: system-packages
	bash e2e/cluster/build-tools.sh all

test: deps tools
	npm test

test-unit: deps
	npm run test:unit

lint: deps
	npm run lint

typecheck: deps
	npm run typecheck

format: deps
	npm run format

bench: deps tools
	npm run bench

cluster-up: deps tools
	@node e2e/cluster/cli.ts up

cluster-down: deps
	@node e2e/cluster/cli.ts down

demo: system-packages deps tools
	@node e2e/demo/cli.ts up

demo-down: deps
	@node e2e/demo/cli.ts down

crds: deps
	node crds/generate.ts

clean:
	rm -rf node_modules
