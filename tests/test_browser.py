"""End to end in a real browser: JupyterLab runs notebook 03, and the explorer's controls do what the engine says.

A student's path through the explorer of notebook 03 (case (c)), with the real controls: the seed's
overlapping stack shift on Linux 6.6 shows the WARN; typing a `new` one page lower breaks the mutual
alignment (no WARN); one key press on the page slider puts it back (the WARN returns, with the very same
picture); clicking 6.7 realigns the move (two whole PMD moves, no WARN). Every expected text is computed
by the engine in this test. The page must fetch nothing from outside, and log no console error and no
failed request. Screenshots go to a temporary folder whose path is printed.
"""

import json
import re
import time

import pytest
from browser_support import (
    ExplorerPage,
    chromium_page,
    copy_notebooks,
    explorer_png_digests,
    find_notebook,
    jupyter_lab,
    needs_chromium,
    still_running,
    strip_outputs,
    watch,
)

from pagemove import text
from pagemove.scenario import simulate

pytestmark = [pytest.mark.browser, needs_chromium]

SEED = dict(old=0x1fff000, new=0x1dff000, length=0x201000)   # Linus' overlapping example, as execve moves it
ONE_PAGE_LOWER = 0x1dfe000
RUN_ALL_TIMEOUT = 180


def summary(new=SEED["new"], kernel="6.6"):
    """What the explorer must print for the seed's stack shift with this `new` and kernel."""
    return text.summary(simulate(SEED["old"], new, SEED["length"], kernel=kernel, stack=True))


def run_all(page, panel, n_code_cells: int) -> None:
    """Run -> Run All Cells, then wait until the last code cell has its execution count and the kernel is idle."""
    page.wait_for_selector(".jp-StatusBar-Item:has-text('| Idle')", timeout=90_000)   # kernel connected
    panel.locator(".jp-Cell").first.click()                     # make this notebook the current widget
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator("li.lm-Menu-item:not(.lm-mod-disabled)", has_text="Run All Cells").first.click(timeout=10_000)
    last_prompt = panel.locator(".jp-CodeCell .jp-InputPrompt").last
    deadline = time.monotonic() + RUN_ALL_TIMEOUT
    while time.monotonic() < deadline:
        errors = panel.locator(".jp-OutputArea-output:has-text('Traceback')")
        if errors.count():
            pytest.fail(f"a cell raised during Run All:\n{errors.first.inner_text()[:3000]}")
        if last_prompt.inner_text().strip() == f"[{n_code_cells}]:":
            break
        time.sleep(0.25)
    else:
        pytest.fail(f"Run All did not reach code cell {n_code_cells} within {RUN_ALL_TIMEOUT} s "
                    f"(last prompt: {last_prompt.inner_text()!r})")
    page.wait_for_selector(".jp-StatusBar-Item:has-text('| Idle')")


def test_notebook_03_explorer_from_the_warn_on_6_6_to_realigned_on_6_7(tmp_path_factory, capsys):
    nb03 = find_notebook("03")
    assert nb03 is not None, "notebook 03 (case (c)) is missing from notebooks/"
    work, shots = tmp_path_factory.mktemp("lab"), tmp_path_factory.mktemp("lab-screenshots")
    with capsys.disabled():
        print(f"\nbrowser screenshots: {shots}")
    copy_notebooks(work / "notebooks", names={nb03.name})
    strip_outputs(work / "notebooks" / nb03.name)               # all that is shown comes from this run
    n_code = sum(c["cell_type"] == "code" for c in json.loads(nb03.read_text())["cells"])

    warned, realigned = (simulate(SEED["old"], SEED["new"], SEED["length"], kernel=k, stack=True)
                         for k in ("6.6", "6.7"))
    assert (warned.warned, warned.refusals, realigned.warned, realigned.realigned) == (True, 1, False, True)
    # The pictures the explorer draws for the four states, in this process: the page must show these bytes.
    pictures = explorer_png_digests("c-overlap", {"new": ONE_PAGE_LOWER}, {"new": SEED["new"]}, {"kernel": "6.7"})
    assert pictures[0] == pictures[2] and len(set(pictures)) == 3

    with jupyter_lab(work / "notebooks", work / "state") as lab, chromium_page(work / "state") as page:
        traffic = watch(page, lab.url)
        try:
            page.goto(f"{lab.url}/lab/tree/{nb03.name}?reset")     # ?reset: no restored workspace
            panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            run_all(page, panel, n_code)
            cell = panel.locator(".jp-CodeCell", has=page.locator(".widget-toggle-buttons")).first
            cell.scroll_into_view_if_needed()
            ex = ExplorerPage(cell)

            # 0. The explorer opens on the seed's overlapping example, Linux 6.6: the WARN is shown.
            first = ex.wait_for_state(summary(), None)
            assert first == pictures[0], "the page's figure is not the explorer's drawing of this move"
            assert "WARNING" in ex.summary.inner_text() and "refusals: 1" in ex.summary.inner_text()
            cell.screenshot(path=str(shots / "0-seed-6.6-warn.png"))

            # 1. Type new one page lower (hex box, Enter): old and new are no longer mutually aligned.
            ex.text_box("new").fill(f"{ONE_PAGE_LOWER:#x}")
            ex.text_box("new").press("Enter")
            lower = ex.wait_for_state(summary(new=ONE_PAGE_LOWER), first)
            assert lower == pictures[1]
            assert "WARNING" not in ex.summary.inner_text()
            cell.screenshot(path=str(shots / "1-new-one-page-lower.png"))

            # 2. One key press on new's page slider: back to the seed's layout, the WARN and the same picture.
            ex.slider_handle("new").focus()
            page.keyboard.press("ArrowRight")
            again = ex.wait_for_state(summary(), lower)
            assert again == first, "the same move must draw the same picture"
            assert ex.text_box("new").input_value() == f"{SEED['new']:#x}"
            cell.screenshot(path=str(shots / "2-slider-back-to-seed.png"))

            # 3. Click Linux 6.7: realigned, two whole PMD moves, no WARN.
            ex.toggle("Linux", "6.7").click()
            assert ex.wait_for_state(summary(kernel="6.7"), again) == pictures[3]
            shown = ex.summary.inner_text()
            assert "WARNING" not in shown and re.search(r"^realigned", shown, re.M)
            assert f"{realigned.pmd_moves} PMD, {realigned.pte_moves} PTE" in shown
            cell.screenshot(path=str(shots / "3-linux-6.7-realigned.png"))
            started = lab.processes()
            assert len(started) >= 2, "expected JupyterLab and notebook 03's kernel to be running"
            # JupyterLab running a notebook with the explorer: offline-clean, no extension complaining
            assert not traffic.console and not traffic.failed and not traffic.outside, traffic.problems()
        except BaseException:
            page.screenshot(path=str(shots / "failure.png"))
            raise
    assert not still_running(started), "JupyterLab or its kernel is still running"
