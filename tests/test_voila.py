"""`make present`: Voila serves notebooks/dashboard.ipynb for a lecture hall, offline, at 1024x768.

Drives Debian's chromium through Playwright, with one Voila server and one page for the whole module
(configured as `make present` configures it: jupyter/config/voila.json and the offline template in
jupyter/voila). The expected texts come from the engine (text.summary of scenario.simulate), so the tests
check that the page shows what pagemove computes. The last test closes the tab and waits for the culler.
"""

import json
import shutil
import time

import pytest
from browser_support import (
    NOTEBOOKS,
    REPO,
    ExplorerPage,
    chromium_page,
    explorer_png_digests,
    needs_chromium,
    still_running,
    voila,
    watch,
)

from pagemove import text
from pagemove.presets import PRESETS

DASHBOARD = NOTEBOOKS / "dashboard.ipynb"
PROJECTOR = (1024, 768)
# Quick, for the last test; not so quick that a kernel still starting on a loaded machine is culled (it was,
# at 2 s: "Culling 'starting' kernel ... with 0 connections")
CULL = ("--MappingKernelManager.cull_idle_timeout=15", "--MappingKernelManager.cull_interval=1")


def summary_of(preset: str, **changes) -> str:
    return text.summary(PRESETS[preset].run(**changes))


def test_dashboard_is_a_title_and_one_presenter_explorer_cell():
    cells = json.loads(DASHBOARD.read_text())["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "code"]
    assert 'MoveExplorer(preset="c-overlap", presenter=True)' in "".join(cells[1]["source"])


def test_make_present_uses_the_offline_config():
    """The Makefile's present target runs Voila with the config the browser tests use."""
    make = (REPO / "Makefile").read_text()
    assert "JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter/config" in make and "JUPYTER_PATH=$(CURDIR)/jupyter" in make
    config = json.loads((REPO / "jupyter" / "config" / "voila.json").read_text())
    assert config["VoilaConfiguration"]["template"] == "pagemove"
    assert config["MappingKernelManager"]["cull_idle_timeout"] > 0  # a closed tab's kernel goes
    template = (REPO / "jupyter" / "voila" / "templates" / "pagemove" / "index.html.j2").read_text()
    assert "cdn." not in template.split("-#}")[1] and "https://" not in template.split("-#}")[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """(server, page, traffic, screenshots): one Voila and one 1024x768 page for every browser test here."""
    work, shots = tmp_path_factory.mktemp("voila"), tmp_path_factory.mktemp("voila-screenshots")
    notebook = work / "dashboard.ipynb"
    shutil.copy2(DASHBOARD, notebook)
    with voila(notebook, work / "state", *CULL) as server, \
            chromium_page(work / "state", viewport=PROJECTOR) as page:
        traffic = watch(page, server.url)
        page.goto(f"{server.url}/")
        yield server, page, traffic, shots


@pytest.mark.browser
@needs_chromium
def test_voila_dashboard_renders_the_explorer_and_controls_change_the_picture(dashboard, capsys):
    server, page, traffic, shots = dashboard
    with capsys.disabled():
        print(f"\nvoila screenshots: {shots}")
    pictures = explorer_png_digests("c-overlap", {"preset": "cascade"}, {"kernel": "6.7"}, {"preset": "c-overlap"},
                                    presenter=True)
    assert len(set(pictures)) == 3 and pictures[0] == pictures[3]
    ex = ExplorerPage(page)
    try:
        # 1. It renders: the overlapping stack shift on 6.6, with the WARN, and no code on the page.
        assert PRESETS["c-overlap"].run().warned and "WARNING" in summary_of("c-overlap")
        first = ex.wait_for_state(summary_of("c-overlap"), None, timeout=90)
        assert first == pictures[0], "the page's figure is not the explorer's drawing of this move"
        body = page.inner_text("body")
        assert "import" not in body and "MoveExplorer(" not in body, "Voila shows code"
        assert page.locator(".jp-InputArea-editor, .cm-editor").count() == 0
        page.screenshot(path=str(shots / "1-c-overlap-6.6.png"))

        # 2. A preset from the dropdown: the refusal cascade (3 refusals on 6.6).
        ex.preset.select_option(label=f"cascade: {PRESETS['cascade'].title}")
        cascade = ex.wait_for_state(summary_of("cascade"), first)
        assert cascade == pictures[1]
        assert PRESETS["cascade"].run().refusals == 3 and "refusals: 3" in ex.summary.inner_text()
        page.screenshot(path=str(shots / "2-cascade-6.6.png"))

        # 3. The kernel toggle: 6.7 realigns, four whole PMD moves, no WARN.
        ex.toggle("Linux", "6.7").click()
        assert ex.wait_for_state(summary_of("cascade", kernel="6.7"), cascade) == pictures[2]
        shown = ex.summary.inner_text()
        assert "WARNING" not in shown and "realigned" in shown and "4 PMD" in shown
        page.screenshot(path=str(shots / "3-cascade-6.7.png"))

        # 4. Back to the seed's case for the layout checks.
        ex.preset.select_option(label=f"c-overlap: {PRESETS['c-overlap'].title}")
        assert ex.wait_for_state(summary_of("c-overlap"), pictures[2]) == pictures[0]
    except BaseException:
        page.screenshot(path=str(shots / "failure.png"), full_page=True)
        raise


LAYOUT = """() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const img = document.querySelector('img.widget-image');
  const pre = [...document.querySelectorAll('.widget-html pre')].pop();
  const select = document.querySelector('.widget-dropdown select');
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = getComputedStyle(select).font;
  const longest = Math.max(...[...select.options].map(o => ctx.measureText(o.text).width));
  const overflowing = [...document.querySelectorAll('*')].filter(e => {
    const s = getComputedStyle(e);
    return e !== pre && ['auto', 'scroll'].includes(s.overflowY) && e.scrollHeight > e.clientHeight + 1;
  }).map(e => e.className.toString().slice(0, 60));
  return {
    viewport: [innerWidth, innerHeight],
    controls: ['.widget-dropdown', '.widget-toggle-buttons', '.widget-text', '.widget-slider', '.widget-checkbox']
      .flatMap(sel => [...document.querySelectorAll(sel)].map(box)),
    texts: [...document.querySelectorAll('.pagemove-explorer .widget-html')].filter(e => e.innerText.trim()).map(box),
    image: box(img), natural: [img.naturalWidth, img.naturalHeight], shown: [img.clientWidth, img.clientHeight],
    summary: box(pre), summaryFont: getComputedStyle(pre).fontFamily, summaryWrap: getComputedStyle(pre).whiteSpace,
    summaryScrolls: pre.scrollHeight > pre.clientHeight + 1, summaryScrollable: getComputedStyle(pre).overflowY,
    summaryCue: pre.parentElement.innerText.includes('scroll inside it'),
    summaryWide: pre.scrollWidth > pre.clientWidth + 1,
    overflowing, longest, selectWidth: select.clientWidth,
  };
}"""


def check_fits(m: dict, state: str) -> None:
    """Everything of one explorer state inside the 1024x768 viewport; a long summary scrolls and says so."""
    width, height = m["viewport"]
    assert (width, height) == PROJECTOR
    assert not m["overflowing"], f"{state}: something scrolls: {m['overflowing']}"
    for left, top, right, bottom in [*m["controls"], *m["texts"], m["image"], m["summary"]]:
        assert 0 <= left and right <= width and 0 <= top and bottom <= height, (state, left, top, right, bottom, m)
    # the summary is monospaced and wraps rather than clips; if it is longer than its box, it scrolls and the
    # page says so
    assert "mono" in m["summaryFont"].lower() and m["summaryWrap"] == "pre-wrap" and not m["summaryWide"], m
    assert not m["summaryScrolls"] or (m["summaryScrollable"] == "auto" and m["summaryCue"]), (state, m)


@pytest.mark.browser
@needs_chromium
def test_every_state_fits_a_1024x768_projector_without_scrolling(dashboard):
    """The seed's case, the cascade (the tallest picture), a box that does not parse, THP in stack mode."""
    server, page, traffic, shots = dashboard
    ex = ExplorerPage(page)
    page.wait_for_selector("img.widget-image")
    seed = summary_of("c-overlap")
    ex.wait_for_state(seed, None)
    # the picture is drawn at the size it is shown: not stretched, not squeezed
    m = page.evaluate(LAYOUT)
    assert m["natural"] == m["shown"], m
    # the case dropdown shows its longest choice whole (its arrow takes about 24 px)
    assert m["longest"] + 24 <= m["selectWidth"], m
    error_line = page.locator(".widget-html", has_text="Cannot move")
    states = [("seed", lambda: None, lambda: None),
              ("cascade", lambda: ex.preset.select_option(label=f"cascade: {PRESETS['cascade'].title}"),
               lambda: ex.summary.filter(has_text="refusals: 3").wait_for()),
              ("a box that does not parse", lambda: (ex.text_box("new").fill("-4096"), ex.text_box("new").press("Enter")),
               lambda: error_line.first.wait_for()),
              ("THP in stack mode", lambda: (ex.preset.select_option(label=f"c-overlap: {PRESETS['c-overlap'].title}"),
                                             ex.summary.filter(has_text="refusals: 1").wait_for(),
                                             page.locator(".widget-checkbox input").first.check()),
               lambda: error_line.filter(has_text="huge").first.wait_for())]
    try:
        for i, (state, act, settled) in enumerate(states):
            act()
            settled()
            time.sleep(0.5)  # the last widget updates of this state
            page.screenshot(path=str(shots / f"4-layout-{i}-{state.replace(' ', '-')}.png"))
            check_fits(page.evaluate(LAYOUT), state)
    finally:  # back to the seed's case for the tests that follow
        page.locator(".widget-checkbox input").first.uncheck()
        ex.preset.select_option(label=f"cascade: {PRESETS['cascade'].title}")
        ex.preset.select_option(label=f"c-overlap: {PRESETS['c-overlap'].title}")
        ex.summary.filter(has_text="refusals: 1").wait_for()


@pytest.mark.browser
@needs_chromium
def test_nothing_is_fetched_from_outside_and_the_console_stays_clean(dashboard):
    server, page, traffic, shots = dashboard
    page.wait_for_selector("img.widget-image")
    assert not traffic.console and not traffic.failed and not traffic.outside, traffic.problems()


@pytest.mark.browser
@needs_chromium
def test_a_closed_tab_does_not_leave_its_kernel_behind(dashboard):
    server, page, traffic, shots = dashboard
    kernels = server.processes()[1:]
    assert kernels, "expected the dashboard's kernel to be running"
    page.close()
    deadline = time.monotonic() + 60
    while still_running(kernels) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not still_running(kernels), "the kernel of a closed tab is still running (no culling?)"
