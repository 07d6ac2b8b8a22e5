# Two commands do everything: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest clean system-deps build-deps install

# Debian's python3 lacks venv/ensurepip until python3-venv is installed.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "calmopsd needs Python >= 3.11 (found: $$($(PYTHON) --version))" >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "installing python3-venv (needs root)"; \
	  apt-get update && apt-get install -y python3-venv; }
	$(PYTHON) -m venv $(VENV)

# PM2 (from npm), nginx, Prometheus, Alertmanager and Chromium with its chromedriver (from
# apt) for the tests that run
# them for real; each step
# is a no-op once the program is installed.
# Never probe it with `pm2 --version`: any pm2 command but a few spawns a PM2 daemon.
PM2_VERSION ?= 7
system-deps:
	@command -v pm2 >/dev/null 2>&1 || { \
	  command -v npm >/dev/null 2>&1 || { \
	    echo "installing nodejs and npm (needs root)"; \
	    apt-get update && apt-get install -y nodejs npm; }; \
	  echo "installing pm2@$(PM2_VERSION) from npm (needs root)"; \
	  npm install --global --no-fund --no-audit pm2@$(PM2_VERSION); }
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  echo "installing nginx from apt (needs root)"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y --no-install-recommends nginx; }
	@{ command -v prometheus && command -v prometheus-alertmanager; } >/dev/null 2>&1 || { \
	  echo "installing prometheus and prometheus-alertmanager from apt (needs root)"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y --no-install-recommends prometheus prometheus-alertmanager; }
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  echo "installing chromium and chromium-driver from apt (needs root)"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y --no-install-recommends chromium chromium-driver; }

# The compiled log scanner (setup.py, calmopsd/sense/logs/_scan.c) needs a C compiler and
# Python's headers. Installed when missing and run as root; otherwise only said, as the
# package then installs without it and counts logs in Python (slower, same counts).
build-deps: $(BIN)/python
	@{ command -v cc >/dev/null 2>&1 && test -f "$$($(BIN)/python -c \
	    'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h"; } || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing gcc and python3-dev from apt (the compiled log scanner)"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y --no-install-recommends gcc libc6-dev python3-dev; \
	  else \
	    echo "no C compiler or Python headers: counting logs without the compiled scanner" \
	      "(apt-get install gcc python3-dev, then make again)" >&2; \
	  fi; }

$(STAMP): $(BIN)/python setup.cfg setup.py pyproject.toml calmopsd/sense/logs/_scan.c | build-deps
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@# The unit's PYTHONOPTIMIZE=2 reads .opt-2.pyc files (why: systemd/calmopsd.service).
	$(BIN)/python -OO -m compileall -q -j 0 $(VENV)/lib calmopsd >/dev/null
	@touch $@

# Foreground daemon on the shipped default config, state under ./var/. Ctrl-C stops it.
# glibc's malloc and Python's -OO as the systemd unit sets them (why: systemd/calmopsd.service).
run: $(STAMP)
	CALMOPS_STATE_DIR=$(CURDIR)/var MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 \
		PYTHONOPTIMIZE=2 $(BIN)/calmopsd run

test: $(STAMP) system-deps lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check calmopsd tests bench
	$(BIN)/ruff format --check calmopsd tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The log tests twice: with the compiled scanner, then counting as a host without it does.
pytest: $(STAMP) system-deps
	$(BIN)/pytest
	CALMOPS_NO_SCANNER=1 $(BIN)/pytest -q -p no:randomly tests/sense/logs

# Install on a Debian host, as root: user calmopsd, /etc/calmopsd, /opt/calmopsd/venv, the
# state dir and both units (README.md "Running as a service"). Safe to re-run.
# DESTDIR=DIR SKIP_USER=1 stages the files under DIR and touches nothing else.
install:
	DESTDIR='$(DESTDIR)' SKIP_USER='$(SKIP_USER)' PYTHON='$(PYTHON)' PIP_FLAGS='$(PIP_FLAGS)' \
	  sh systemd/install.sh

clean:
	rm -rf $(VENV) var build dist *.egg-info calmopsd/sense/logs/_scan.*.so
