# Two entry points: `make bench` (main job) and `make test` (test suite).
# Both install into a local virtual environment first; torch is pinned to the CPU build through
# .ci/constraints.txt so no CUDA packages are pulled on CPU machines.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install bench test lint docs clean

$(STAMP): pyproject.toml .ci/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c .ci/constraints.txt -e ".[all,dev]"
	# NeuroBench (cross-check of our operation counts) needs torchaudio, which has no CPU wheel
	# here; its metrics import without it, so install it without dependencies.
	$(PY) -m pip install -q --no-deps -c .ci/constraints.txt neurobench
	touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(VENV)/bin/spikeenergy bench quick

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check spikeenergy tests benchmarks
	$(VENV)/bin/mypy spikeenergy

# the API reference (mkdocs.yml; mkdocstrings reads the docstrings), offline, warnings are errors
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
