# Civic Briefs. Needs only Python 3.11+ and pip: `make demo` and `make test` install the rest.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
DEV_STAMP := $(VENV)/.synced-dev

export PREFECT_SERVER_ANALYTICS_ENABLED := false
# CI and many sandboxes run as root; pip's warning about it is noise here (older pips ignore this).
export PIP_ROOT_USER_ACTION := ignore

.PHONY: install install-dev demo test serve stop clean

# uv, pinned, into a folder of its own: needs neither venv nor a writable system Python.
$(UV):
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(TOOLS) uv==$(UV_VERSION)

# What a user runs: the runtime packages only (no test tools).
$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --no-dev
	@rm -f $(DEV_STAMP)
	@touch $(STAMP)

# The tests and benchmarks also need the dev group (pytest, moto, the stand-ins' server).
$(DEV_STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $(STAMP) $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

## Run the daily brief job once on the embedded defaults and print the briefs made
## (`make demo VERBOSE=1` shows every log line).
demo: install
	@mkdir -p .data
	$(VENV)/bin/civic-briefs demo $(if $(VERBOSE),--verbose,)

## Run the test suite.
test: install-dev
	$(VENV)/bin/pytest

## Start a local Prefect server, work pool, limits, deployments and a worker (see README).
serve: install
	@bash deployments/serve.sh

## Stop what `make serve` started.
stop:
	@bash deployments/stop.sh

clean:
	rm -rf .data

.PHONY: bench bench-quick
## The benchmark of the day at scale (docs/benchmarks.md): 1,000 users at full latency, about 30-40 min.
bench: install-dev
	$(VENV)/bin/python benchmarks/bench_day.py $(BENCH_ARGS)

## The same, small and fast (under 3 minutes): `make bench-quick BENCH_ARGS=--embedded` for the embedded API.
bench-quick: install-dev
	$(VENV)/bin/python benchmarks/bench_day.py --quick $(BENCH_ARGS)
