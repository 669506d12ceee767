# Shortcuts for the scripts; each works on a fresh machine with Rust and Python 3.
SHELL := /bin/bash
.PHONY: dev test events build deploy bench soak

dev:        ## run the stack locally (moto + the six functions); Ctrl-C stops it
	./scripts/dev

test:       ## every check and test, as CI runs them
	./scripts/test

events:     ## freshly signed API Gateway events for sam local / cargo lambda invoke
	./events/generate

soak:       ## the long soak run of RELIABILITY.md (SOAK_SECONDS=300 per phase; sizes as options)
	./scripts/soak

bench:      ## the benchmark of BENCHMARKS.md (Rust vs. the Node.js baseline)
	./scripts/bench

build:      ## sam build (arm64)
	./scripts/check-template

deploy:     ## build and deploy with SAM (asks for parameters the first time)
	. ./scripts/common.sh && ensure_venv && ensure_arm64_target && sam build && sam deploy --guided
