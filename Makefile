# Entry points; the real work lives in scripts/ so that it also runs without make.
.PHONY: test demo serve-sandbox lint bench venv

VENV ?= .venv
# every benchmark script in bench/ (tools such as record_*.py are not benchmarks)
BENCHES ?= $(sort $(filter-out bench/record_% bench/_%,$(wildcard bench/*.py)))

# Everything, from a fresh Debian 12 machine as root (what README and .ci/run call).
test:
	bash scripts/test.sh

# Venv + `callcenter demo`: the server in real time on the simulated PBX (no Asterisk needed).
demo:
	bash scripts/demo.sh

# Venv + Asterisk sandbox + `callcenter serve` against it (place calls in the sandbox yourself).
serve-sandbox:
	bash scripts/serve-sandbox.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: venv
	@test -n "$(BENCHES)" || { echo "no benchmarks in bench/"; exit 1; }
	@set -e; for b in $(BENCHES); do echo "==> $$b"; $(VENV)/bin/python $$b; done

venv:
	bash scripts/test.sh --venv-only
