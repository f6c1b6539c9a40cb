# The two commands of the README. Everything else is set up by them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall whenever the dependency list changes.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

## make demo: embedded store, real sample data, the main job
demo: $(STAMP)
	$(BIN)/pricing-agent demo

## make test: the whole default test suite (CI runs this)
test: $(STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The chat's browser tests drive Debian's Chromium (Playwright never downloads a browser).
# Installed here when missing and possible (root with apt-get); otherwise they skip and say why.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    ( timeout 600 apt-get install -y -q chromium >/dev/null 2>&1 \
	      || ( timeout 300 apt-get update -q >/dev/null 2>&1 \
	           && timeout 600 apt-get install -y -q chromium >/dev/null 2>&1 ) ) \
	      && echo "installed Chromium for the chat's browser tests" \
	      || echo "could not install Chromium: the chat's browser tests will skip"; \
	  else \
	    echo "Chromium is missing and cannot be installed here: the browser tests will skip"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.import_throughput

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
