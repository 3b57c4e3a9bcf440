"""Accessibility in a real browser (issue 19): axe-core on the Voila dashboard and on notebook 03's explorer in
JupyterLab, and every control of the explorer reached and operated with the keyboard alone.

axe-core comes from the repository's own package.json + package-lock.json (`make install` runs `npm ci`); it is
injected into the page from node_modules, so nothing is fetched. A Python MoveExplorer mirrors every key press
(the same set() a click goes through), and the page must then show that explorer's summary: what the keys did is
computed by pagemove itself. Violations outside pagemove's output (JupyterLab's own) are printed, not asserted.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from browser_support import (
    NOTEBOOKS,
    REPO,
    ExplorerPage,
    chromium_page,
    copy_notebooks,
    find_notebook,
    jupyter_lab,
    needs_chromium,
    strip_outputs,
    voila,
    watch,
)

from pagemove import a11y
from pagemove.presets import PRESETS
from pagemove.widgets import THP_LABEL, MoveExplorer

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
needs_axe = pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed: `make install` runs `npm ci` "
                                                          "(needs npm; package.json pins axe-core)")
pytestmark = [pytest.mark.browser, needs_chromium, needs_axe]

PROJECTOR = (1024, 768)
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

# Every violation's nodes, split into pagemove's own (inside the explorer's box, or a figure pagemove drew in an
# output area) and the rest (JupyterLab's or Voila's own page).
AXE_RUN = """async tags => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  const ours = el => !!el && (!!el.closest('.pagemove-a11y') ||
                              (el.matches('img') && !!el.closest('.jp-OutputArea-output')));
  const out = {ours: [], theirs: []};
  for (const v of result.violations) {
    for (const node of v.nodes) {
      const el = document.querySelector(node.target[0]);
      (ours(el) ? out.ours : out.theirs).push({rule: v.id, impact: v.impact, target: node.target.join(' '),
                                              html: node.html.slice(0, 160), why: (node.failureSummary || '').slice(0, 300)});
    }
  }
  out.passes = result.passes.length;
  return out;
}"""


def run_axe(page) -> dict:
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_RUN, WCAG_AA)


def report(capsys, where: str, found: dict) -> None:
    with capsys.disabled():
        print(f"\naxe-core {where}: pagemove's own {len(found['ours'])}, the page's own {len(found['theirs'])}"
              f" ({found['passes']} rules passed)")
        rules = {}
        for v in found["ours"] + found["theirs"]:
            mine = "pagemove's" if v in found["ours"] else "not pagemove's"
            rules.setdefault((mine, v["rule"], v["impact"]), []).append(v["target"])
        for (mine, rule, impact), targets in sorted(rules.items()):
            print(f"  {mine}: {rule} ({impact}) x {len(targets)}, e.g. {targets[0][:100]}")


ACTIVE = """() => {
  const e = document.activeElement;
  if (!e || !e.closest('.pagemove-a11y')) return null;
  const name = e.getAttribute('aria-label') || (e.labels && e.labels[0] && e.labels[0].textContent) ||
               e.textContent.trim();
  const s = getComputedStyle(e);
  const group = e.closest('[role=radiogroup]');
  return {role: e.getAttribute('role') || e.tagName.toLowerCase() + (e.type ? ':' + e.type : ''), name,
          group: group && group.getAttribute('aria-label'), checked: e.getAttribute('aria-checked'),
          outline: [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor]};
}"""


def rgb_hex(css: str) -> str:
    """'rgb(31, 78, 158)' -> '#1f4e9e'."""
    parts = [int(float(x)) for x in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
    return "#" + "".join(f"{p:02x}" for p in parts)


def tab_through_the_explorer(page, presses: int = 60) -> list[dict]:
    """Press Tab from the top of the page; what got focus inside the explorer, in order."""
    page.locator("body").click(position={"x": 2, "y": 2})
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        now = page.evaluate(ACTIVE)
        if now is None and seen:
            break
        if now is not None:
            seen.append(now)
    return seen


class Page:
    """The explorer on the page, with a Python MoveExplorer doing the same things (what the page must show)."""

    def __init__(self, page, scope, mirror: MoveExplorer):
        self.page, self.scope, self.mirror = page, scope, mirror
        self.ex = ExplorerPage(scope)

    def radio(self, group: str, choice: str):
        return self.scope.locator(f"[role=radiogroup][aria-label='{group}'] [role=radio]", has_text=choice).first

    def slider(self, name: str):
        return self.scope.locator(f"[role=slider][aria-label='{name}']").first

    def shows(self, timeout: float = 60) -> None:
        """Wait until the page shows what the mirror says: its summary, and its error (or none)."""
        want_summary, want_error = self.mirror.summary.strip(), self.mirror.error
        deadline = time.monotonic() + timeout
        summary = error = None
        while time.monotonic() < deadline:
            summary = "".join(self.ex.summary.all_inner_texts()[-1:]).strip() or None
            shown = self.scope.locator(".widget-html", has_text="Cannot move:").all_inner_texts()  # no waiting
            error = shown[0] if shown else ""
            if summary == want_summary and bool(error) == bool(want_error) and want_error in error and \
                    self.live() == self.mirror.a11y.announcement:
                return
            time.sleep(0.2)
        pytest.fail(f"the page does not show the mirror's state\nexpected:\n{want_summary}\nerror: {want_error!r}\n"
                    f"announced: {self.mirror.a11y.announcement!r}\nshown:\n{summary}\nerror shown: {error}\n"
                    f"announced: {self.live()!r}")

    def live(self) -> str:
        return self.scope.locator(".pagemove-live").first.text_content()


# ---- JupyterLab: notebook 03 (first: the Voila tests below keep one browser open until the module ends) ---------

ACTIVE_CELL = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook > .jp-Cell')]
                   .findIndex(c => c.classList.contains('jp-mod-active'))"""


def test_notebook_03_in_jupyterlab_axe_and_keys_that_stay_with_the_control(tmp_path_factory, capsys):
    from test_browser import run_all

    nb03 = find_notebook("03")
    work = tmp_path_factory.mktemp("a11y-lab")
    copy_notebooks(work / "notebooks", names={nb03.name})
    strip_outputs(work / "notebooks" / nb03.name)
    n_code = sum(c["cell_type"] == "code" for c in json.loads(nb03.read_text())["cells"])
    with jupyter_lab(work / "notebooks", work / "state") as lab, \
            chromium_page(work / "state", viewport=PROJECTOR) as page:
        page.goto(f"{lab.url}/lab/tree/{nb03.name}?reset")
        panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        run_all(page, panel, n_code)
        cell = panel.locator(".jp-CodeCell", has=page.locator(".pagemove-a11y")).first
        cell.scroll_into_view_if_needed()
        view = Page(page, cell, MoveExplorer(preset="c-overlap"))
        view.shows()
        found = run_axe(page)
        report(capsys, "JupyterLab, notebook 03", found)
        assert not found["ours"], json.dumps(found["ours"], indent=1)
        figures = panel.locator(".jp-OutputArea-output img")
        assert figures.count() >= 3  # two drawings and the explorer's picture
        assert all(len(figures.nth(i).get_attribute("alt") or "") > 40 for i in range(figures.count()))

        # Keys on a focused control change the control, not the notebook's active cell.
        view.radio("Linux version", "6.6").focus()
        active = page.evaluate(ACTIVE_CELL)
        page.keyboard.press("ArrowRight")
        view.mirror.set(kernel="6.7")
        view.shows()
        page.keyboard.press("ArrowDown")  # a radio group: Down is Right
        page.keyboard.press("Enter")      # would enter the cell's edit mode
        view.mirror.set(kernel="6.6")
        view.shows()
        view.ex.preset.focus()
        page.keyboard.press("ArrowDown")
        cases = [v for _, v in view.mirror.preset.options]
        view.mirror.set(preset=cases[cases.index("c-overlap") + 1])
        view.shows()
        view.slider("after step").focus()
        page.keyboard.press("ArrowLeft")
        view.mirror.set(step=view.mirror.steps - 1)
        view.shows()
        assert page.evaluate(ACTIVE_CELL) == active, "a key press on the explorer moved the notebook's active cell"
        assert panel.locator(".jp-Notebook.jp-mod-editMode").count() == 0, "Enter on a control opened the cell editor"


# ---- Voila ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    work = tmp_path_factory.mktemp("a11y-voila")
    notebook = work / "dashboard.ipynb"
    shutil.copy2(NOTEBOOKS / "dashboard.ipynb", notebook)
    with voila(notebook, work / "state") as server, chromium_page(work / "state", viewport=PROJECTOR) as page:
        traffic = watch(page, server.url)
        page.goto(f"{server.url}/")
        page.wait_for_selector(".pagemove-a11y [role=radiogroup]", timeout=90_000)
        yield page, traffic


def test_axe_finds_nothing_on_the_voila_dashboard_in_any_state(dashboard, capsys):
    page, traffic = dashboard
    view = Page(page, page, MoveExplorer(preset="c-overlap", presenter=True))
    view.shows()
    states = {"the seed's WARN on 6.6": lambda: None,
              "a box that does not parse": lambda: view.ex.text_box("new").fill("-4096") or
              view.ex.text_box("new").press("Enter") or view.mirror.set(new="-4096"),
              "THP ticked in stack mode": lambda: view.mirror.set(preset="c-overlap", thp=True),
              "the refusal cascade": lambda: view.mirror.set(preset="cascade")}
    for state, act in states.items():
        act()
        if state == "THP ticked in stack mode":
            view.ex.preset.select_option(label=f"c-overlap: {PRESETS['c-overlap'].title}")
            page.get_by_role("checkbox", name=THP_LABEL).check()
        if state == "the refusal cascade":
            view.ex.preset.select_option(label=f"cascade: {PRESETS['cascade'].title}")
        view.shows()
        found = run_axe(page)
        report(capsys, f"Voila, {state}", found)
        # The whole page is pagemove's here (its template, its notebook): nothing at all may be found.
        assert not found["ours"] and not found["theirs"], json.dumps(found, indent=1)
    assert not traffic.console and not traffic.failed and not traffic.outside, traffic.problems()


def test_every_control_is_reached_by_tab_and_shows_a_2px_focus_outline(dashboard):
    page, _ = dashboard
    order = tab_through_the_explorer(page)
    kinds = [(f["role"], f["group"] or f["name"]) for f in order]
    expected = {("select:select-one", "case"), ("radio", "geometry"), ("radio", "Linux version"), ("input:checkbox", THP_LABEL),
                ("radio", "mode"), ("input:text", "old"), ("input:text", "new"), ("input:text", "len"),
                ("slider", "old address, in pages"), ("slider", "new address, in pages"),
                ("slider", "length, in pages"), ("slider", "after step")}
    assert expected <= set(kinds), kinds
    assert all(name for _, name in kinds), f"a control without a name: {kinds}"
    assert sum(role == "radio" for role, _ in kinds) == 3, "one Tab stop per toggle group"
    for f in order:
        style, width, colour = f["outline"]
        assert style == "solid" and width >= 2, f
        assert a11y.contrast(rgb_hex(colour), "#ffffff") >= 3, f
    radios = [f for f in order if f["role"] == "radio"]
    assert all(f["checked"] == "true" for f in radios), "Tab lands on the chosen button of each group"


def test_every_control_is_operated_with_the_keyboard_alone_in_voila(dashboard):
    page, _ = dashboard
    view = Page(page, page, MoveExplorer(preset="c-overlap", presenter=True))
    view.ex.preset.select_option(label=f"c-overlap: {PRESETS['c-overlap'].title}")  # the earlier test's state
    view.shows()
    operate_every_control(page, view)


def operate_every_control(page, view: Page) -> None:
    """Keys only, one control after another; after each, the page shows what the mirror explorer shows."""
    keys, m = page.keyboard, view.mirror

    def press(locator, *names, then=None):
        locator.focus()
        for key in names:
            keys.press(key)
        then()
        view.shows()

    # the Linux radio group: arrows choose; the chosen button is checked and keeps the focus
    press(view.radio("Linux version", "6.6"), "ArrowRight", then=lambda: m.set(kernel="6.7"))
    assert view.radio("Linux version", "6.7").get_attribute("aria-checked") == "true"
    assert view.radio("Linux version", "6.6").get_attribute("aria-checked") == "false"
    assert page.evaluate("document.activeElement.textContent") == "6.7"
    # the step slider: Home replays from before the loop, and the live region says so
    press(view.slider("after step"), "Home", then=lambda: m.set(step=0))
    assert view.live().startswith("Before the loop") and m.sentence == view.live()
    assert "before the loop" in view.scope.locator(".pagemove-picture img, img.pagemove-picture").first \
        .get_attribute("alt")
    press(view.slider("after step"), "End", then=lambda: m.set(step=m.steps))
    # a text box: type, Enter
    box = view.ex.text_box("new")
    press(box, "Control+a", *"0x1dfe000", "Enter", then=lambda: m.set(new="0x1dfe000"))
    # a page slider: one arrow is one page
    press(view.slider("new address, in pages"), "ArrowRight", then=lambda: m.set(new=0x1dff000))
    # the mode group: mremap of an overlapping range is an error, announced
    press(view.radio("mode", "execve"), "ArrowLeft", then=lambda: m.set(mode="mremap"))
    assert m.error and view.live().startswith("Cannot move:")
    press(view.radio("mode", "mremap"), "ArrowRight", then=lambda: m.set(mode="stack"))
    # the THP checkbox: Space ticks and unticks it
    thp = page.get_by_role("checkbox", name=THP_LABEL)
    press(thp, "Space", then=lambda: m.set(thp=True))
    assert "untick" in m.error
    press(thp, "Space", then=lambda: m.set(thp=False))
    # the geometry group
    press(view.radio("geometry", "x86-64"), "ArrowRight", then=lambda: m.set(geometry="x86_64_5level"))
    press(view.radio("geometry", "5-level"), "ArrowLeft", then=lambda: m.set(geometry="x86_64"))
    # the case dropdown: an arrow picks the next case
    cases = [v for _, v in m.preset.options]
    following = cases[cases.index(m.preset.value) + 1]  # "custom" (the text box made it so) -> the first case
    press(view.ex.preset, "ArrowDown", then=lambda: m.set(preset=following))
