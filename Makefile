# pybin2img: the two commands in README.md, and the pieces they are made of.
# Everything installs what it needs: Debian packages (ci/install-system-packages.sh, as root)
# and a virtualenv in .venv with pybin2img and its test tools.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_IMAGE ?= pybin2img-hello:demo

.PHONY: demo test system venv engine registry redis lint typecheck unit integration bench clean

## demo: build examples/hello into an image, load it into Docker and run it
demo: venv engine
	$(BIN)/pybin2img build examples/hello/hello.py -t $(DEMO_IMAGE) -o build/hello.tar --load
	docker run --rm --read-only --network none $(DEMO_IMAGE) from a container

## test: lint, types and the whole test suite against a real engine, registry and tools
test: venv engine registry redis lint typecheck
	ci/run-tests.sh $(BIN)/python

system:
	ci/install-system-packages.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: system $(STAMP)

engine: system
	ci/start-dockerd.sh

## registry: two local registries for the push tests (127.0.0.1:5000 open, :5001 Basic auth)
registry: system
	ci/start-registry.sh

## redis: a Redis server on 127.0.0.1:6379, ccache's shared storage in the CI-cache tests
redis: system
	ci/start-redis.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

## unit: the fast tier only (no Nuitka, no engine)
unit: venv
	$(BIN)/python -m pytest -q tests/unit

integration: venv engine registry redis
	$(BIN)/python -m pytest -v tests/integration

## bench: figures, not tests: images vs a slim-Python image, PyInstaller and a static C floor,
## start-up, what to compile, assembly speed
bench: venv engine registry redis
	$(BIN)/python bench/images.py
	$(BIN)/python bench/assembly.py
	$(BIN)/python bench/compression.py
	$(BIN)/python bench/examples.py
	$(BIN)/python bench/cicache.py
	$(BIN)/python bench/init.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/corpus.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
