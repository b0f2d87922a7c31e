# Two commands for a newcomer: `make demo` and `make test` (each sets up .venv itself).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
PIP := $(BIN)/python -m pip install --disable-pip-version-check --progress-bar off

.PHONY: demo test test-slow test-all compat lint docs bench mutate mutate-hand clean

$(BIN)/python:
	@echo "==> creating the virtualenv $(VENV) with $(PY)"
	$(PY) -m venv $(VENV)

# everything the tests, linters, benchmarks and docs need (Presidio and spaCy included)
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing guardrails-middleware[dev] into $(VENV) (the first time: a few minutes)"
	$(PIP) -e '.[dev]'
	touch $(STAMP)

# the demo needs much less: the core, deepagents and rich (no Presidio, spaCy or dev tools)
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then \
		echo "==> $(VENV) is set up already (make test did it)"; \
	else \
		echo "==> installing guardrails-middleware[demo,deepagents] into $(VENV)"; \
		$(PIP) -e '.[demo,deepagents]'; \
	fi
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	@echo "==> guardrails demo: an offline tour (scripted models, no API key, no server)"
	$(BIN)/guardrails demo

# `make test`: everything but the slow group (1 MB adversarial scans, other processes, loop
# lag under load, waits on real clocks, memory plateaus, whole-set equivalence sweeps); `make test-slow` runs that group, `make test-all` both;
# .ci/run runs both. `make test` runs one pytest-xdist worker per core, each test file whole in
# one worker (--dist loadfile); on one core, or with JOBS=0, it runs in one process. The slow
# group always runs in one process: its timings are not shared with another worker.
JOBS ?= $(shell n=$$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1); [ "$$n" -gt 1 ] && echo $$n || echo 0)
XDIST := $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist loadfile)

test: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python -m pytest -m "not slow" $(XDIST)

test-slow: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python -m pytest -m slow

test-all: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python -m pytest

# LangChain's and deepagents' own tests on their classes and on ours, compared test by test
# (compat/expected.toml lists the known differences); the first run downloads the sdists.
compat: $(STAMP)
	$(BIN)/python -m compat

# Mutation testing of every guardrail's decisions (slow: not in CI). AREAS="pii filesystem",
# ARGS="--sample 80 -j 2"; the report lists survivors; docs/mutation.md says how to read it.
mutate: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python scripts/mutate.py $(AREAS) $(ARGS)

# Hand-made mutations (scripts/hand_mutations.toml: careless edits an operator list does not make,
# each with the promise it breaks). ARGS="--area filesystem -j 2", ARGS="--check" (staleness only).
mutate-hand: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python scripts/hand_mutate.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy guardrails

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache .compat .mutate
