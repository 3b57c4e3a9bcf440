"""Text output fits 100 columns: every committed notebook output, the CLI's move and quiz, and wrap()."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagemove import text
from pagemove.__main__ import main
from pagemove.problems import DIFFICULTIES, KINDS, Problem
from pagemove.scenario import GEOMETRIES, simulate

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
WIDTH = text.COLUMNS


def output_lines(nb_path):
    """(cell number, line) for every line of text a notebook's saved outputs show."""
    nb = json.loads(nb_path.read_text())
    for n, cell in enumerate(nb["cells"], 1):
        for out in cell.get("outputs", []):
            body = out.get("text") or out.get("data", {}).get("text/plain") or ""
            for line in ("".join(body) if isinstance(body, list) else body).splitlines():
                yield n, line


def too_wide(lines):
    return [f"{where}: {len(line)} columns: {line[:60]}..." for where, line in lines if len(line) > WIDTH]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_output_line_fits(nb):
    assert list(output_lines(nb)), "a committed notebook keeps its outputs"
    assert too_wide(output_lines(nb)) == []


MOVES = [
    ["--old", "0x1fff000", "--new", "0x1dff000", "--len", "0x601000", "--stack", "--kernel", "6.6"],
    ["--old", "0x1fff000", "--new", "0x1dff000", "--len", "0x601000", "--stack", "--kernel", "5.4"],
    ["--old", "0x1fff000", "--new", "0x0fff000", "--len", "2M+4K", "--blocker", "0xe00000:4K"],
    ["--old", "0x1fff000", "--new", "0x0fff000", "--len", "2M+4K", "--blocker", "0x1e00000:1M",
     "--blocker", "0xe00000:1M", "--unchecked"],
    ["--old", "0x7fffffbfe000", "--new", "0x7fff7fbfe000", "--len", "0x401000", "--stack", "--kernel", "6.6"],
    ["--old", "0x40000000", "--new", "0x80001000", "--len", "0x4000000", "--kernel", "6.6"],
]


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    assert status in (0, 1), err
    return out


@pytest.mark.parametrize("argv", MOVES, ids=range(len(MOVES)))
def test_cli_move_fits(capsys, argv):
    out = run(capsys, ["move", *argv])
    assert "moves:" in out
    assert too_wide(enumerate(out.splitlines(), 1)) == []


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_cli_move_fits_in_every_geometry(capsys, geometry):
    from pagemove.scenario import geometry_of
    geo = geometry_of(geometry)
    pmd, page = geo.pmd_size, geo.page_size
    old = 8 * pmd - page  # the refusal cascade of notebook 03, in this geometry's sizes
    argv = ["move", "--old", hex(old), "--new", hex(old - pmd), "--len", hex(3 * pmd + page), "--stack",
            "--kernel", "6.6", "--geometry", geometry]
    assert too_wide(enumerate(run(capsys, argv).splitlines(), 1)) == []


@pytest.mark.parametrize("difficulty", sorted(DIFFICULTIES))
def test_cli_quiz_fits(capsys, difficulty):
    for kind in KINDS:
        out = run(capsys, ["quiz", "--seed", "0", "--count", "4", "-c", "-d", str(difficulty), "--kind", kind])
        assert too_wide(enumerate(out.splitlines(), 1)) == []
        # the feedback on wrong answers, which quotes the step trace
        p = Problem.random(3, kind=kind, difficulty=difficulty)
        answers = [a for item in p.items for a in ("-a", f"{item.name}=0x1")]
        out = run(capsys, ["quiz", "--seed", "3", "-d", str(difficulty), "--kind", kind, *answers])
        assert too_wide(enumerate(out.splitlines(), 1)) == []


def test_wrap_breaks_at_spaces_never_inside_a_number():
    words = [f"{0x7f0000000000 + 0x1000 * i:#x}" if i % 3 else "and" for i in range(60)]
    line = "    " + " ".join(words)
    out = text.wrap(line).splitlines()
    assert len(out) > 1 and all(len(x) <= WIDTH for x in out)
    assert " ".join(x.strip() for x in out).split() == words  # every number whole, in order
    assert all(x.startswith("    ") for x in out) and out[1].startswith("      ")  # indent kept, then +2
    assert text.wrap("short line\n  another") == "short line\n  another"


# ---- every move's text fits, not only the ones above -------------------------------------------------

TINY_PAGE, TINY_PMD = 0x1000, 0x8000


@settings(max_examples=60, deadline=None)
@given(old_pages=st.integers(8, 200), shift_pages=st.integers(-120, 120), pages=st.integers(1, 60),
       stack=st.booleans(), kernel=st.sampled_from(["5.4", "6.6", "6.7", "6.18"]),
       blocker=st.sampled_from([None, "below old", "below new"]))
def test_every_report_fits_and_keeps_numbers_whole(old_pages, shift_pages, pages, stack, kernel, blocker):
    old = 0x100000 + old_pages * TINY_PAGE
    new = old - abs(shift_pages or 1) * TINY_PAGE if stack else old + shift_pages * TINY_PAGE + 0x200000
    length = pages * TINY_PAGE
    blockers = {None: (), "below old": ((old & ~(TINY_PMD - 1), TINY_PAGE),),
                "below new": ((new & ~(TINY_PMD - 1), TINY_PAGE),)}[blocker]
    try:
        r = simulate(old, new, length, kernel=kernel, stack=stack, geometry="tiny", blockers=blockers)
    except (OSError, ValueError):
        return  # a layout the kernel refuses prints one error line, not a report
    out = text.report(r)
    assert too_wide(enumerate(out.splitlines(), 1)) == []
    # wrapping never splits a hex number: every address the summary names appears whole
    for addr in (r.old_addr, r.new_addr):
        assert text.hexa(addr, r.geometry) in out
