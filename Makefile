# Two commands for a fresh machine with Python >= 3.10 and make:
#   make demo   -- create .venv, install, run the seed experiment in a real IPython shell
#   make test   -- create .venv with the test extras, run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

BENCH  := .venv-bench

.PHONY: demo front-page test docs notebooks corpus lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "ipyparallel_ds needs Python >= 3.10, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps make re-installs happen only when pyproject.toml changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/parcompare demo

# The front pages' chart and table: the same seed experiment as `make demo`, its chart saved to
# docs/images/parcompare-demo.png and its table written into README.md and docs/index.md
# (between their markers). Run it on a quiet machine and commit what it wrote.
front-page: $(VENV)/.installed
	$(BIN)/parcompare demo --front-page .

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The documentation site, warnings as errors (the suite builds it too: tests/test_docs.py).
docs: $(VENV)/.installed-test
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html
	@echo "Open docs/_build/html/index.html"

# Re-run every teaching notebook in place, one after the other on a quiet machine, so that the
# committed outputs come from a real run.
notebooks: $(VENV)/.installed-test
	cd notebooks && for nb in *.ipynb; do ../$(BIN)/jupyter-execute --inplace --timeout=600 "$$nb" || exit 1; done

# Run the corpus of real scikit-learn usages and write what ran and what was said for each to
# docs/corpus.md (on a quiet machine, like the notebooks).
corpus: $(VENV)/.installed-test
	$(BIN)/python tests/corpus_table.py

# Benchmarks run in their own environment, with the peer extensions they compare against.
$(BENCH)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH)/bin/python -m pip install --quiet -e ".[bench]"
	@touch $@

bench: $(BENCH)/.installed
	$(BENCH)/bin/python benchmarks/run.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check ipyparallel_ds tests
	$(BIN)/ruff format --check ipyparallel_ds tests

clean:
	rm -rf $(VENV) $(BENCH) .pytest_cache .ruff_cache build dist docs/_build docs/_generated
