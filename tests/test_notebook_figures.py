"""Every measured figure the notebooks quote in their prose comes from the recorded reference run.

Notebook 01's timing box and notebook 06 both read the run from pagemove/lab/reference.json through
pagemove.lab.report, so their cells cannot disagree. Their prose quotes some of the numbers those cells
print; this test finds every figure in the prose that carries a unit of time or a ratio (µs, ns, ×,
"times") and requires it to be one the report prints, or one of the few listed below that are not
measurements (a patch title, a count).
"""

import re
from pathlib import Path

import pytest
from test_notebook_prose import prose

from pagemove import lab

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
UNIT = r"(?:µs|us\b|ns\b|×|x\b|times\b)"
FIGURE = re.compile(rf"(?<![\w.])(\d+(?:\.\d+)?)(?:\s+against\s+(\d+(?:\.\d+)?))?\s*{UNIT}")

NOT_MEASURED = {  # notebook: {figure: why it is not a measurement}
    "01": {"512": "512 times more entries are written (a count)", "20": 'the 2019 patch title, "by 20x"'},
    "05": {"10": 'an LKFT re-run "triggered 10 times" (a quotation)'},
    "06": {"10": "each step of the log scale is 10 times slower", "32": "a pair of extents comes 32 times",
           "20": "the 20x in the 2019 patch title", "512": "512 × 13.17 ns (a count)"},
}


def reference_figures() -> set[str]:
    """Every number the lab's report prints for the reference run."""
    ref = lab.load_reference()
    names = [r.name for r in ref.scenarios]
    printed = [lab.format_one_gib(ref), lab.format_speedups(ref), lab.format_model(ref.model),
               lab.format_model_per_2mib(ref.model), lab.format_compare(ref, names), lab.format_thp(ref),
               lab.format_table(ref)]
    return set(re.findall(r"\d+(?:\.\d+)?", "\n".join(printed)))


def quoted_figures(md: str) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", prose(md, main_thread=False))  # inline code: names, not figures
    return [f for m in FIGURE.finditer(text) for f in m.groups() if f]


NUMBERED = sorted(NOTEBOOKS.glob("0*.md"))


@pytest.mark.parametrize("nb", NUMBERED, ids=lambda p: p.stem)
def test_every_measured_figure_in_the_prose_comes_from_the_reference_run(nb):
    known = reference_figures() | set(NOT_MEASURED.get(nb.stem[:2], {}))
    strays = [f for f in quoted_figures(nb.read_text()) if f not in known]
    assert not strays, f"{nb.name} quotes {strays}, which the reference run does not print"


def test_01_and_06_read_their_timings_from_the_reference_run():
    for prefix in ("01", "06"):
        md = next(NOTEBOOKS.glob(f"{prefix}-*.md")).read_text()
        assert "lab.load_reference()" in md, prefix
    assert "lab.format_one_gib(" in next(NOTEBOOKS.glob("01-*.md")).read_text()


def test_the_figures_quoted_are_found():
    """The pattern catches what the notebooks write, so the test above can fail."""
    md = "---\njupytext: x\n---\n8.7 against 9.8 µs; **16.4 times**; (1.6×); 13.17 ns; `2x2`; Linux 6.7"
    assert quoted_figures(md) == ["8.7", "9.8", "16.4", "1.6", "13.17"]
    assert "16.4" in reference_figures() and "99.9" not in reference_figures()


# ---- the real WARNING (notebooks 03, 05, 09): its figures come from the recording -------------------------

def warn_figures() -> dict[str, set[int]]:
    """What the recording and the engine say: the exec that warned, and "one exec in N" for the recorded
    stack and for a 6 MiB one (whose shift of 3 PMDs warns too)."""
    from pagemove.lab.vm import report, warn

    ref = warn.reference()
    start, end = ref["stack_before"]

    def odds(lo: int) -> int:
        return round(report.RND_PAGES / sum(w for _, w in report.warning_shifts(lo, end)))
    return {"exec": {ref["warn_exec"]}, "odds": {odds(start), odds(end - 0x601000)}}


@pytest.mark.parametrize("prefix", ["03", "05", "09"])
def test_the_warn_figures_in_the_prose_come_from_the_recording(prefix):
    text = prose(next(NOTEBOOKS.glob(f"{prefix}-*.md")).read_text(), main_thread=False)
    known = warn_figures()
    execs = [int(n) for n in re.findall(r"\bexec (\d+)\b", text)]
    odds = [int(n) for n in re.findall(r"\bon(?:e|ce) (?:exec )?in (\d+)\b", text)]
    assert execs or odds, f"{prefix} quotes no figure of the recorded WARN"
    assert set(execs) <= known["exec"] and set(odds) <= known["odds"], (prefix, execs, odds, known)
    assert not re.search(r"once in (?:about )?700", text)  # the feasibility run's rough figure, replaced
