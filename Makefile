# pagemove: make lab | make test | make figures | make bench | make present | make slides
# Every target creates .venv on first use and installs the package from this repository's own files,
# with the versions pinned in constraints.txt. That needs Python 3.11 or newer (the pins do, and so does
# nbgrader); pick the interpreter with PYTHON=, e.g. make lab PYTHON=python3.12.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# Checked only when a venv is about to be created (recursive variables: nothing runs before that).
PYTHON_MIN     := 3.11
PYTHON_IS      = $(shell $(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)
PYTHON_OK      = $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info >= tuple(map(int, "$(PYTHON_MIN)".split(".")))))' 2>/dev/null)
PYTHON_MESSAGE = pagemove needs Python $(PYTHON_MIN) or newer, and PYTHON=$(PYTHON) is \
                 $(if $(PYTHON_IS),Python $(PYTHON_IS),not a Python that runs); pass one: \
                 make $(or $(MAKECMDGOALS),install) PYTHON=python3.12

# nbgrader runs `alembic` from PATH when it creates a gradebook: the venv's bin/ goes first.
export PATH := $(abspath $(VENV))/bin:$(PATH)

# Keep Jupyter, IPython and matplotlib state out of $HOME.
STATE  := $(CURDIR)/.jupyter-state
export JUPYTER_CONFIG_DIR  := $(STATE)/config
export JUPYTER_DATA_DIR    := $(STATE)/data
export JUPYTER_RUNTIME_DIR := $(STATE)/runtime
export IPYTHONDIR          := $(STATE)/ipython
export MPLCONFIGDIR        := $(STATE)/matplotlib
export PYTHONHASHSEED      := 0

.PHONY: install test lint lab figures bench present notebooks slides clean test-pythons

# axe-core (pinned in package.json + package-lock.json) for the browser accessibility tests; without npm
# those tests skip, saying why.
AXE := node_modules/axe-core/axe.min.js

install: $(STAMP) $(AXE)

$(AXE): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error && touch $(AXE); \
	else echo "npm not found: the axe-core tests (tests/test_a11y_browser.py) will skip"; fi

# The last step disables nbgrader's JupyterLab extensions: they fail to load in Voila ("Shared module
# @jupyterlab/filebrowser doesn't exist"), and the course commands need only its CLI. Re-enable them with
# `jupyter labextension enable @jupyter/nbgrader`.

$(STAMP): pyproject.toml constraints.txt
	$(if $(filter 1,$(PYTHON_OK)),,$(error $(PYTHON_MESSAGE)))
	mkdir -p $(JUPYTER_CONFIG_DIR) $(JUPYTER_DATA_DIR) $(JUPYTER_RUNTIME_DIR) $(IPYTHONDIR) $(MPLCONFIGDIR)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[lab,test,browser,grade,vm]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (pagemove)" >/dev/null
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
	touch $(STAMP)

test: install lint
	MPLBACKEND=Agg $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

# The dashboard for a lecture hall: jupyter/config/voila.json picks the offline template in jupyter/voila
# (nothing is fetched from outside), loads only the widget extensions and culls the kernels of closed tabs.
present: $(STAMP)
	JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter/config JUPYTER_PATH=$(CURDIR)/jupyter \
	    $(VENV)/bin/voila notebooks/dashboard.ipynb --Voila.ip=127.0.0.1 --port=8866

figures: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pagemove.figures figures/

bench: $(STAMP)
	MPLBACKEND=Agg $(PY) benchmarks/bench.py

# Notebooks 03 and 04 as reveal.js slides, in build/slides/.
slides: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to slides --output-dir=build/slides notebooks/03-*.ipynb notebooks/04-*.ipynb

lint: $(STAMP)
	$(VENV)/bin/ruff check pagemove tests benchmarks

# Notebooks are edited as their jupytext sources (notebooks/*.md, MyST). This copies every source's
# cells into its .ipynb (keeping the outputs of unchanged cells), then re-executes every notebook in
# place, so the committed outputs match the code, and gives the saved widgets stable ids (a notebook whose
# outputs did not change stays byte for byte the same).
notebooks: $(STAMP)
	for src in $$(grep -l '^jupytext:' notebooks/*.md); do $(VENV)/bin/jupytext --quiet --update --to ipynb "$$src"; done
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=600 notebooks/*.ipynb
	$(PY) tools/stable-widget-ids notebooks/*.ipynb

# `make test` once per Python found (python3.X on PATH, pyenv's versions), each in its own venv under
# build/pythons/; a summary line per interpreter. Slow (an install and the whole suite each); not in CI.
test-pythons:
	tools/test-pythons

clean:
	rm -rf $(VENV) $(STATE) .pytest_cache .hypothesis node_modules
