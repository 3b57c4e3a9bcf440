# pagemove: make lab | make test | make figures | make bench | make present | make slides
# Every target creates .venv on first use and installs the package from this repository's own files,
# with the versions pinned in constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# Keep Jupyter, IPython and matplotlib state out of $HOME.
STATE  := $(CURDIR)/.jupyter-state
export JUPYTER_CONFIG_DIR  := $(STATE)/config
export JUPYTER_DATA_DIR    := $(STATE)/data
export JUPYTER_RUNTIME_DIR := $(STATE)/runtime
export IPYTHONDIR          := $(STATE)/ipython
export MPLCONFIGDIR        := $(STATE)/matplotlib
export PYTHONHASHSEED      := 0

.PHONY: install test lint lab figures bench present notebooks slides clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	mkdir -p $(JUPYTER_CONFIG_DIR) $(JUPYTER_DATA_DIR) $(JUPYTER_RUNTIME_DIR) $(IPYTHONDIR) $(MPLCONFIGDIR)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[lab,test,browser,grade]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (pagemove)" >/dev/null
	touch $(STAMP)

test: $(STAMP) lint
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
# place, so the committed outputs match the code.
notebooks: $(STAMP)
	for src in $$(grep -l '^jupytext:' notebooks/*.md); do $(VENV)/bin/jupytext --quiet --update --to ipynb "$$src"; done
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=600 notebooks/*.ipynb

clean:
	rm -rf $(VENV) $(STATE) .pytest_cache .hypothesis
