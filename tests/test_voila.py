"""`make present`: Voila serves notebooks/dashboard.ipynb; the explorer renders, with no code, and reacts.

Drives Debian's chromium through Playwright. The expected texts come from the engine (text.summary of
scenario.simulate), so the test checks that the page shows what pagemove computes.
"""

import json
import shutil

import pytest
from browser_support import (
    NOTEBOOKS,
    ExplorerPage,
    chromium_page,
    explorer_png_digests,
    needs_chromium,
    still_running,
    voila,
)

from pagemove import text
from pagemove.presets import PRESETS

DASHBOARD = NOTEBOOKS / "dashboard.ipynb"


def summary_of(preset: str, **changes) -> str:
    return text.summary(PRESETS[preset].run(**changes))


def test_dashboard_is_a_title_and_one_explorer_cell():
    cells = json.loads(DASHBOARD.read_text())["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "code"]
    assert "MoveExplorer(" in "".join(cells[1]["source"])


@pytest.mark.browser
@needs_chromium
def test_voila_dashboard_renders_the_explorer_and_controls_change_the_picture(tmp_path_factory, capsys):
    work, shots = tmp_path_factory.mktemp("voila"), tmp_path_factory.mktemp("voila-screenshots")
    with capsys.disabled():
        print(f"\nvoila screenshots: {shots}")
    notebook = work / "dashboard.ipynb"
    shutil.copy2(DASHBOARD, notebook)
    pictures = explorer_png_digests("c-overlap", {"preset": "cascade"}, {"kernel": "6.7"})
    assert len(set(pictures)) == 3
    console = []
    with voila(notebook, work / "state") as server, chromium_page(work / "state", console) as page:
        try:
            page.goto(f"{server.url}/")
            ex = ExplorerPage(page)

            # 1. It renders: the overlapping stack shift on 6.6, with the WARN, and no code on the page.
            warned = PRESETS["c-overlap"].run()
            assert warned.warned and "WARNING" in summary_of("c-overlap")
            first = ex.wait_for_state(summary_of("c-overlap"), None, timeout=90)
            assert first == pictures[0], "the page's figure is not the explorer's drawing of this move"
            body = page.inner_text("body")
            assert "import" not in body and "MoveExplorer(" not in body, "Voila shows code"
            assert page.locator(".jp-InputArea-editor, .cm-editor").count() == 0
            page.screenshot(path=str(shots / "1-c-overlap-6.6.png"), full_page=True)

            # 2. A preset from the dropdown: the refusal cascade (3 refusals on 6.6).
            ex.preset.select_option(label=f"cascade: {PRESETS['cascade'].title}")
            cascade = ex.wait_for_state(summary_of("cascade"), first)
            assert cascade == pictures[1]
            assert PRESETS["cascade"].run().refusals == 3 and "refusals: 3" in ex.summary.inner_text()
            page.screenshot(path=str(shots / "2-cascade-6.6.png"), full_page=True)

            # 3. The kernel toggle: 6.7 realigns, four whole PMD moves, no WARN.
            ex.toggle("Linux", "6.7").click()
            assert ex.wait_for_state(summary_of("cascade", kernel="6.7"), cascade) == pictures[2]
            shown = ex.summary.inner_text()
            assert "WARNING" not in shown and "realigned" in shown and "4 PMD" in shown
            page.screenshot(path=str(shots / "3-cascade-6.7.png"), full_page=True)
            started = server.processes()
            assert len(started) >= 2, "expected Voila and the dashboard's kernel to be running"
        except BaseException:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            raise
    assert not still_running(started), "Voila or its kernel is still running"
    # Only the offline CDN requests (Font Awesome) may fail; a widget or kernel error would show here.
    assert not [m for m in console if "ERR_NAME_NOT_RESOLVED" not in m and "Failed to load" not in m
                and "RUNTIME-012" not in m], console
