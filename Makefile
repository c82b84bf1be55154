# The two commands a new machine needs: `make demo` and `make test`.
# torch==2.13.0 is installed, pinned, before the package, so pip never picks a newer torch for it; where no local
# CPU wheel is found, TORCH_INDEX (below) chooses the index, e.g. PyTorch's CPU-only one.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# The suite runs in this many processes (pytest-xdist), one thread each: most tests are small, and two
# single-threaded workers finish in about half the time of one two-threaded process on two cores.
TEST_WORKERS ?= 2
# Where pip finds torch when set, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU-only build.
TORCH_INDEX ?=

.PHONY: demo test bench install install-test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) -e '.[tour]'
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/layerwise tour

# The report test renders HTML in headless Chromium; install Debian's package where we can.
test: install-test
	command -v chromium >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium) || true
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS)

bench: install-test
	bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) .venv-* runs
