# Two entry points for a fresh machine: `make run` (main job, embedded default) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data
HOST ?= 127.0.0.1
PORT ?= 8000

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# torch first and exactly: the CPU wheel where the machine has one, never a CUDA build pulled in by a range.
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/lcad serve --host $(HOST) --port $(PORT)

evaluate: install
	$(VENV)/bin/lcad evaluate --data $(DATA)/crts --scorer lcvade --seeds 3

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

.PHONY: install run evaluate test
