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


@pytest.mark.parametrize("ipynb", PAIRS, ids=lambda p: p.stem)
def test_saved_widgets_refer_only_to_saved_models(ipynb):
    """Every widget a cell displays, and every model a saved widget refers to, is in the saved state, so a
    static view (nbviewer, GitHub) can draw the controls; tools/stable-widget-ids must keep it so."""
    import re

    nb = nbformat.read(ipynb, as_version=4)
    saved = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    shown = [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] for c in nb.cells
             for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    refs = re.findall(r"IPY_MODEL_([0-9a-f]{32})", ipynb.read_text())
    assert set(shown) <= set(saved) and set(refs) <= set(saved), f"{ipynb.name}: a widget refers to a lost model"


def test_stable_widget_ids_renames_consistently(tmp_path):
    """Two executions of a notebook differ only in the kernel's random widget ids; after the tool, not at all."""
    import json
    import shutil
    import subprocess
    import sys
    import uuid

    src = NOTEBOOKS / "dashboard.ipynb"
    copies = []
    for run in ("a", "b"):
        text = src.read_text()
        for mid in json.loads(text)["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]:
            text = text.replace(mid, uuid.uuid4().hex)  # what a new execution does to the ids
        (tmp_path / run).mkdir()
        copies.append(tmp_path / run / src.name)
        copies[-1].write_text(text)
    tool = NOTEBOOKS.parent / "tools" / "stable-widget-ids"
    subprocess.run([sys.executable, str(tool), *map(str, copies)], check=True)
    assert copies[0].read_text() == copies[1].read_text()
    shutil.copy(copies[0], tmp_path / "check.ipynb")
    test_saved_widgets_refer_only_to_saved_models(tmp_path / "check.ipynb")


def test_stable_widget_ids_joins_a_print_split_into_chunks(tmp_path):
    """The kernel may send one print() as several stream outputs, differently per run; the tool joins each
    cell's consecutive outputs to one stream (as Jupyter shows them), and keeps stdout apart from stderr."""
    import json
    import subprocess
    import sys

    def stream(name, text):
        return {"name": name, "output_type": "stream", "text": text}

    cell = {"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {}, "source": "print('a\\nb')",
            "outputs": [stream("stdout", ["a\n", "b"]), stream("stdout", ["\n"]), stream("stderr", ["w\n"]),
                        stream("stdout", ["c\n"])]}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "split.ipynb"
    path.write_text(json.dumps(nb))
    subprocess.run([sys.executable, str(NOTEBOOKS.parent / "tools" / "stable-widget-ids"), str(path)], check=True)
    outputs = json.loads(path.read_text())["cells"][0]["outputs"]
    assert outputs == [stream("stdout", ["a\n", "b\n"]), stream("stderr", ["w\n"]), stream("stdout", ["c\n"])]


def test_notebooks_save_explorers():
    """The test below has explorers to check: 00-05, 08 and the dashboard show one."""
    with_explorer = [p.stem for p in PAIRS if "pagemove-summary" in p.read_text()]
    assert len(with_explorer) >= 5 and "dashboard" in with_explorer, with_explorer


@pytest.mark.parametrize("ipynb", PAIRS, ids=lambda p: p.stem)
def test_saved_explorers_show_their_move(ipynb):
    """A saved explorer (nbviewer, GitHub, a notebook opened before its kernel runs) shows what its cell made:
    a summary and "of n" steps, not the empty widgets of before the explorer's first move. Updates that a
    kernel sends after the cell has ended are not saved (see widgets._answering_the_front_end)."""
    nb = nbformat.read(ipynb, as_version=4)
    saved = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    summaries = [m["state"] for m in saved.values() if "pagemove-summary" in m["state"].get("_dom_classes", [])]
    for state in summaries:
        assert "summary of the move" in state["value"] and "moves:" in state["value"], ipynb.name
    totals = [m["state"]["value"] for m in saved.values()
              if m["model_name"] == "LabelModel" and m["state"].get("value", "").startswith("of ")]
    assert len(totals) >= len(summaries), f"{ipynb.name}: an explorer without its 'of n' steps"
