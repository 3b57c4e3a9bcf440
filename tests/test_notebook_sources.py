"""Every notebook has a jupytext source beside it (notebooks/NN-name.md, MyST), and the two agree.

The .md is what people edit and review; the .ipynb is its executed copy for GitHub, nbviewer and nbval.
`make notebooks` copies the source into the notebook and re-executes it. These tests fail when someone
edits one without the other.
"""

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("*.ipynb"))


def cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_notebooks():
    assert len(PAIRS) >= 9


@pytest.mark.parametrize("ipynb", PAIRS, ids=lambda p: p.stem)
def test_notebook_has_a_source_in_sync(ipynb):
    source = ipynb.with_suffix(".md")
    assert source.exists(), f"{ipynb.name} has no jupytext source {source.name}"
    text = jupytext.read(source)
    executed = nbformat.read(ipynb, as_version=4)
    assert executed.metadata.get("jupytext", {}).get("formats") == "ipynb,md:myst", \
        f"{ipynb.name} is not paired with its .md (jupytext --set-formats ipynb,md:myst)"
    want, have = cells(text), cells(executed)
    for i, (a, b) in enumerate(zip(want, have)):
        assert a == b, f"{ipynb.name} cell {i} differs from {source.name}: run `make notebooks`"
    assert len(want) == len(have), f"{ipynb.name} has {len(have)} cells, {source.name} {len(want)}"


@pytest.mark.parametrize("ipynb", PAIRS, ids=lambda p: p.stem)
def test_notebook_is_executed(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), f"{ipynb.name} has unexecuted code cells"
