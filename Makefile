# MaskOracle: the README's commands. Every target runs the idempotent set-up first.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Recipes source the toolchain written by scripts/setup (Foundry binaries, solc shim, LIBTORCH).
ENV := . .toolchain/env.sh &&
# Gas snapshot: unit tests only, so fuzz/invariant run counts (profile-dependent) do not enter it.
SNAPSHOT_ARGS := --no-match-test "testFuzz|invariant" --no-match-path "test/invariant/*"

.PHONY: help setup demo test test-forge test-rust test-web lint bench snapshot clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

setup: ## install and cache the toolchain (npm, libtorch, torchvision sources)
	@scripts/setup

demo: setup ## the main job: a local devnet, workers, one real segmentation delivered on chain
	@scripts/demo

test: setup test-forge test-rust test-web ## the whole test suite (what CI runs)

test-forge:
	$(ENV) forge build
	$(ENV) forge test
	$(ENV) if [ -f .gas-snapshot ]; then FOUNDRY_PROFILE=default forge snapshot --check $(SNAPSHOT_ARGS); fi

test-rust:
	$(ENV) cargo test --workspace

# The web app: build it (the debug binary serves web/dist from disk), ABI drift, unit and browser tests.
test-web:
	@scripts/setup --browser
	$(ENV) cargo build -p maskoracle --bin maskoracle && cd web && npm run build && node scripts/test.mjs

snapshot: setup ## rewrite the committed gas snapshot
	$(ENV) FOUNDRY_PROFILE=default forge snapshot $(SNAPSHOT_ARGS)

lint: ## formatting, clippy, forge fmt, slither
	@scripts/setup --lint
	$(ENV) cargo fmt --all --check
	$(ENV) cargo clippy --workspace --all-targets -- -D warnings
	$(ENV) forge fmt --check
	$(ENV) forge build --build-info --force
	$(ENV) "$$MASKORACLE_TOOLS_VENV/bin/slither" . --foundry-ignore-compile \
		--filter-paths "node_modules|test|deploy" --exclude-informational --exclude-low \
		--exclude-optimization

# cargo bench runs the oracle benches (overhead, load, throughput, chaos: docs/oracle.md, docs/devnet.md)
# and the inference ones (segment; agreement: docs/determinism.md).
bench: setup ## benchmarks (print ratios against baselines measured in the same run)
	@scripts/setup --python
	$(ENV) cargo bench --workspace
	$(ENV) forge test --gas-report --no-match-path "test/invariant/*"

clean: ## remove build outputs (keeps the toolchain cache)
	rm -rf target out cache .toolchain
