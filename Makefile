# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
MODEL ?= tiny

.PHONY: serve test lint venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is installed on its own first so that pip takes the CPU build of the
# pinned release where one is offered, before anything can ask for a newer one.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

serve: venv
	$(BIN)/sdserve serve --host $(HOST) --port $(PORT) --model $(MODEL)

lint: venv
	$(BIN)/ruff check src tests bench

test: lint
	$(BIN)/python -m pytest -q -ra

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
