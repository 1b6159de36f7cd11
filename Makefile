# Everything a fresh machine needs: `make test` and `make demo` create .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test bench demo lint install dist screenshot clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python >= 3.11 is required (set PYTHON=python3.x)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,frames,web,s3,dask]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check sentinel_tui tests

bench: $(STAMP)
	$(PY) -m tests.benchmarks

dist: $(STAMP)
	$(PY) -m pip install --quiet build
	$(PY) -m build --outdir dist .

demo: $(STAMP)
	$(PY) -m sentinel_tui.simulate.demo

# The README's screenshot, drawn by the current dashboard (tests/test_readme.py fails when it is stale).
screenshot: $(STAMP)
	$(PY) -m sentinel_tui.tui.screenshot docs/screenshot.svg

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
