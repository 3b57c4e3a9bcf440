"""Exercises: seeds pinned, every answer checked against the engine, feedback explained."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pagemove.problems import (
    CORE_KINDS,
    KINDS,
    OTHER_GEOMETRIES,
    REASONS,
    Feedback,
    Problem,
    SplitMix64,
    empty_pmds,
    parse_addresses,
    parse_bool,
    parse_number,
    parse_reason,
    reason_of,
)
from pagemove.scenario import simulate

GOLDEN_FILE = Path(__file__).parent / "golden" / "problems.txt"

GOLDEN = [  # (difficulty, seed, kind, old, new, length, stack, blockers, kernel, step, answers)
    (1, 0, 'counts', 0x138000, 0x128000, 0x8000, True, (), None, None,
     {'pmd_6.6': 1, 'pte_6.6': 0, 'refusals_6.6': 0, 'pmd_6.7': 1, 'pte_6.7': 0, 'refusals_6.7': 0}),
    (1, 1, 'realign', 0x137000, 0x12a000, 0x8000, True, (), None, None,
     {'realign': False, 'reason': 'mutual'}),
    (1, 2, 'warn', 0x13f000, 0x137000, 0x9000, True, (), None, None,
     {'warn': True}),
    (1, 3, 'start', 0x128000, 0x118000, 0x10000, False, (), None, None,
     {'old': 0x128000, 'new': 0x118000}),
    (1, 4, 'realign', 0x131000, 0x129000, 0xc000, True, (), None, None,
     {'realign': True, 'reason': 'none'}),
    (1, 5, 'empty', 0x127000, 0x147000, 0x10000, False, (), '6.7', 2,
     {'empty': set()}),
    (1, 6, 'start', 0x130000, 0x128000, 0x3000, True, (), None, None,
     {'old': 0x130000, 'new': 0x128000}),
    (1, 7, 'counts', 0x129000, 0x119000, 0xf000, False, (), None, None,
     {'pmd_6.6': 1, 'pte_6.6': 7, 'refusals_6.6': 0, 'pmd_6.7': 2, 'pte_6.7': 0, 'refusals_6.7': 0}),
    (1, 8, 'aligned', 0x123000, 0x10b000, 0x9000, False, (), None, None,
     {'aligned': True}),
    (1, 9, 'start', 0x137000, 0x11f000, 0x8000, False, (), None, None,
     {'old': 0x130000, 'new': 0x118000}),
    (2, 0, 'empty', 0x12d000, 0x14c000, 0x1000, False, ((0x14b000, 0x1000),), '6.6', 1,
     {'empty': {0x128000}}),
    (2, 1, 'start', 0x12f000, 0x127000, 0x1000, False, (), None, None,
     {'old': 0x128000, 'new': 0x120000}),
    (2, 2, 'realign', 0x131000, 0x129000, 0x6000, True, (), None, None,
     {'realign': False, 'reason': 'guard'}),
    (2, 3, 'start', 0x120000, 0x118000, 0x6000, False, (), None, None,
     {'old': 0x120000, 'new': 0x118000}),
    (2, 4, 'counts', 0x13b000, 0x133000, 0xe000, True, (), None, None,
     {'pmd_6.6': 0, 'pte_6.6': 14, 'refusals_6.6': 1, 'pmd_6.7': 2, 'pte_6.7': 1, 'refusals_6.7': 0}),
    (2, 5, 'empty', 0x137000, 0x128000, 0x1000, False, (), '6.6', 1,
     {'empty': {0x130000}}),
    (2, 6, 'aligned', 0x131000, 0x151000, 0x8000, False, ((0x130000, 0x1000),), None, None,
     {'aligned': True}),
    (2, 7, 'warn', 0x137000, 0x12f000, 0x10000, True, (), None, None,
     {'warn': True}),
    (2, 8, 'realign', 0x129000, 0x120000, 0x3000, False, ((0x128000, 0x1000),), None, None,
     {'realign': False, 'reason': 'guard'}),
    (2, 9, 'start', 0x139000, 0x121000, 0x10000, False, ((0x138000, 0x1000),), None, None,
     {'old': 0x139000, 'new': 0x121000}),
    (3, 0, 'start', 0x7f0bc0e01000, 0x7f0bc0801000, 0xae000, False, ((0x7f0bc0800000, 0x1000),), None, None,
     {'old': 0x7f0bc0e01000, 'new': 0x7f0bc0801000}),
    (3, 1, 'warn', 0x7ff1c0801000, 0x7ff1c0601000, 0x58a000, True, ((0x7ff1c0600000, 0x1000),), None, None,
     {'warn': True}),
    (3, 2, 'start', 0x7f00409ff000, 0x7f00403ff000, 0x349000, False, (), None, None,
     {'old': 0x7f0040800000, 'new': 0x7f0040200000}),
    (3, 3, 'realign', 0x7f1b40c00000, 0x7f1b4141d000, 0x365000, False, (), None, None,
     {'realign': False, 'reason': 'aligned'}),
    (3, 4, 'warn', 0x7ff280c39000, 0x7ff280a39000, 0x115000, True, (), None, None,
     {'warn': False}),
    (3, 5, 'realign', 0x7f2300dff000, 0x7f23007ff000, 0x3f000, False, ((0x7f2300ce6000, 0x1000),), None, None,
     {'realign': False, 'reason': 'below-old'}),
    (3, 6, 'aligned', 0x7f3dc0ce0000, 0x7f3dc0800000, 0x157000, False, (), None, None,
     {'aligned': False}),
    (3, 7, 'start', 0x7f0b80c00000, 0x7f0b80800000, 0x400000, False, (), None, None,
     {'old': 0x7f0b80c00000, 'new': 0x7f0b80800000}),
    (3, 8, 'start', 0x7ffe009ff000, 0x7ffe007ff000, 0x400000, True, (), None, None,
     {'old': 0x7ffe00800000, 'new': 0x7ffe00600000}),
    (3, 9, 'warn', 0x7ff1c0e01000, 0x7ff1c0c01000, 0x5b2000, True, (), None, None,
     {'warn': True}),
]


# ---- the stream -----------------------------------------------------------------------------------

def test_splitmix64_matches_the_reference_outputs():
    """Vigna's splitmix64.c: the published first outputs for seeds 0 and 1234567."""
    zero = SplitMix64(0)
    assert [zero.next() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    other = SplitMix64(1234567)
    assert [other.next() for _ in range(3)] == [6457827717110365317, 3203168211198807973, 9817491932198370423]


def test_below_is_in_range_and_covers_it():
    rng = SplitMix64(42)
    draws = [rng.below(7) for _ in range(700)]
    assert set(draws) == set(range(7))
    with pytest.raises(ValueError):
        rng.below(0)


# ---- golden seeds ---------------------------------------------------------------------------------

def _as_expected(value):
    return frozenset(value) if isinstance(value, set) else value


@pytest.mark.parametrize("difficulty, seed, kind, old, new, length, stack, blockers, kernel, step, answers", GOLDEN)
def test_golden_seeds(difficulty, seed, kind, old, new, length, stack, blockers, kernel, step, answers):
    p = Problem.random(seed, difficulty=difficulty)
    assert (p.kind, p.old, p.new, p.length, p.stack, p.blockers, p.kernel, p.step) == \
        (kind, old, new, length, stack, blockers, kernel, step)
    assert p.answers() == {k: _as_expected(v) for k, v in answers.items()}


def golden_text() -> str:
    """Problem text and solution of seeds 0-9 at every difficulty, as a student sees them."""
    parts = []
    for difficulty in (1, 2, 3):
        for seed in range(10):
            p = Problem.random(seed, difficulty=difficulty)
            parts.append(f"{p}\n\n{p.solution()}\n")
    return "\n=====\n".join(parts)


def test_golden_text():
    """The full wording is pinned too; after a deliberate change, regenerate with PAGEMOVE_REGOLD=1."""
    if os.environ.get("PAGEMOVE_REGOLD"):
        GOLDEN_FILE.write_text(golden_text())
    assert golden_text() == GOLDEN_FILE.read_text()


def test_same_problems_in_a_fresh_interpreter_with_another_hash_seed():
    code = "from pagemove.problems import Problem; print(*(Problem.random(s, difficulty=d) " \
           "for d in (1, 2, 3) for s in range(10)), sep='\\n')"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h}).stdout for h in ("1", "12345")}
    assert len(outs) == 1
    assert outs.pop().startswith(str(Problem.random(0, difficulty=1)))


def test_kind_and_difficulty_select_the_problem():
    assert Problem.random(5, kind="warn", difficulty=2).kind == "warn"
    assert Problem.random(5, difficulty=3).geometry == "x86_64"
    assert Problem.random(5, difficulty=1).geometry == "tiny"
    assert Problem.random(5, difficulty=1) != Problem.random(5, difficulty=2)


# ---- every answer from the engine -----------------------------------------------------------------

SAMPLE = [(d, s, k) for d in (1, 2, 3) for s in range(12) for k in CORE_KINDS]


@pytest.mark.parametrize("difficulty, seed, kind", SAMPLE)
def test_answers_are_the_engines(difficulty, seed, kind):
    """Recompute each answer with scenario.simulate() directly, outside problems.py's cache."""
    p = Problem.random(seed, kind=kind, difficulty=difficulty)
    def run(k):
        return simulate(p.old, p.new, p.length, kernel=k, stack=p.stack, geometry=p.geometry,
                                 blockers=p.blockers)
    a = p.answers()
    if kind == "aligned":
        pmd = p.geo.pmd_size
        assert a == {"aligned": p.old % pmd == p.new % pmd}
    elif kind == "counts":
        for k in ("6.6", "6.7"):
            r = run(k)
            assert (a[f"pmd_{k}"], a[f"pte_{k}"], a[f"refusals_{k}"]) == (r.pmd_moves, r.pte_moves, r.refusals)
    elif kind == "warn":
        assert a == {"warn": run("6.6").refusals > 0}
    elif kind == "realign":
        r = run("6.7")
        assert a["realign"] == r.realigned
        assert (a["reason"] == "none") == r.realigned
    elif kind == "start":
        r = run("6.7")
        assert a == {"old": r.start_old, "new": r.start_new}
        assert (a["old"] != p.old) == r.realigned
    else:
        r = run(p.kernel)
        pt = r.replay(p.step)  # step k: after the first k steps
        assert a == {"empty": {base for base, pte in pt.pte_tables() if not pte.any()}}
    assert p.check(a).right


@pytest.mark.parametrize("difficulty, seed", [(d, s) for d in (1, 2, 3) for s in range(30)])
def test_realign_reasons_agree_with_the_geometry(difficulty, seed):
    """The reason read from the engine's sentence must fit the numbers."""
    p = Problem.random(seed, difficulty=difficulty)
    r = p.result("6.7")
    pmd = p.geo.pmd_size
    reason = reason_of(r)
    if reason == "aligned":
        assert p.old % pmd == 0
    elif reason == "mutual":
        assert p.old % pmd != p.new % pmd
    elif reason == "guard":
        assert p.length < pmd - p.old % pmd
    elif reason in ("below-old", "below-new"):
        assert p.old % pmd == p.new % pmd != 0
    else:
        assert reason == "none" and r.start_old == p.old - p.old % pmd


def test_random_problems_cover_every_answer_class():
    problems = [Problem.random(s, difficulty=d) for d in (1, 2, 3) for s in range(60)]
    reasons = {reason_of(p.result("6.7")) for p in problems}
    assert reasons >= {"none", "aligned", "guard", "mutual", "below-old", "below-new"}
    assert any(p.result("6.6").warned for p in problems) and not all(p.result("6.6").warned for p in problems)
    assert any(p.stack for p in problems) and any(p.blockers for p in problems)
    assert {p.kind for p in problems} == set(CORE_KINDS)
    assert set(KINDS) == set(CORE_KINDS) | {"thp", "pagesize"}


# ---- checking and feedback ------------------------------------------------------------------------

def e4(kind="counts", **kw):
    """kernel-notes E4: stack VMA [0x1fff000, +0x201000) moved down by 0x200000."""
    return Problem.fixed(kind, old=0x1fff000, new=0x1dff000, length=0x201000, stack=True, **kw)


def test_right_answers_in_every_spelling():
    p = e4()
    assert p.check({"pmd_6.6": 0, "pte_6.6": "513", "refusals_6.6": "0x1",
                    "pmd_6.7": " 2 ", "pte_6.7": "0", "refusals_6.7": 0}).right
    assert p.check(["0", "513", "1", "2", "0", "0"]).right
    assert e4("warn").check("yes").right and e4("warn").check(True).right and e4("warn").check("TRUE").right
    assert e4("start").check(["0x1e00000", str(0x1c00000)]).right
    assert e4("start").check({"old": "30M", "new": "28M"}).right


def test_wrong_pmd_count_is_explained_from_the_trace():
    """The brief's example: one PMD move claimed, but step 2 was refused and fell back to 512 PTEs."""
    fb = e4().check({"pmd_6.6": 1, "pte_6.6": 513, "refusals_6.6": 1, "pmd_6.7": 2, "pte_6.7": 0,
                     "refusals_6.7": 0})
    assert fb.score == (5, 6) and not fb.right
    v = fb["pmd_6.6"]
    assert not v.right and v.given == 1 and v.expected == 0
    assert v.explanation.startswith("You said 1; on 6.6 the loop makes 0 PMD move(s)")
    assert "Step 2: PMD move refused (the WARN): the destination PMD entry still holds the table emptied " \
           "at step 1. Fell back to move_ptes(), which moved 512 present PTEs" in v.explanation
    assert "[wrong] PMD moves on 6.6: 1 (answer: 0)" in str(fb) and "5/6 right." in str(fb)


def test_wrong_refusals_and_warn_name_the_refused_step():
    v = e4().check({"refusals_6.6": 0})["refusals_6.6"]
    assert "1 step(s) find the destination entry present" in v.explanation and "Step 2: PMD move refused" in v.explanation
    v = e4("warn").check("no")["warn"]
    assert "6.6 refuses 1 move(s)" in v.explanation and "emptied at step 1" in v.explanation
    v = Problem.fixed("warn", old=0x20000000, new=0x30000000, length=0x400000).check("yes")["warn"]
    assert "no step on 6.6 finds its destination entry present" in v.explanation


def test_unanswered_and_unreadable_items_are_wrong_not_errors():
    fb = e4().check({"pmd_6.6": "lots"})
    assert fb["pmd_6.6"].given is None and "not a number" in fb["pmd_6.6"].unreadable
    shown = str(fb["pmd_6.6"])  # one clear message: what could not be read and how to write it, no "(no answer)"
    assert shown.startswith("[wrong] PMD moves on 6.6: 'lots' is not a number (answer: 0)\n        Write hex 0x1fff000")
    assert "(no answer)" not in shown and "Could not read" not in shown
    assert fb["pte_6.6"].given is None and not fb["pte_6.6"].right and "(no answer)" in str(fb["pte_6.6"])
    with pytest.raises(ValueError, match="no such item"):
        e4().check({"pmd": 1})


def test_realign_reason_feedback():
    blocked = Problem.fixed("realign", old=0x1fff000, new=0x0fff000, length=0x201000, blockers=[(0xe00000, 0x1000)])
    assert blocked.answers() == {"realign": False, "reason": "below-new"}
    assert blocked.check(["no", "something mapped below new"]).right
    assert blocked.check(["no", "5"]).right  # the choice's number
    fb = blocked.check(["yes", "below-old"])
    assert fb.score == (0, 2)
    assert "cannot align new down" in fb["reason"].explanation and "[0xe00000, 0xe01000)" in fb["reason"].explanation
    free = Problem.fixed("realign", old=0x1fff000, new=0x0fff000, length=0x201000)
    assert free.check(["yes", ""]).right  # a move that realigns needs no reason
    assert not free.check(["yes", "length guard"]).right


def test_empty_entries_feedback():
    """kernel-notes E6 (the refusal cascade) on 6.6: after step 3 (of 4) only 0x2200000 is present but empty."""
    p = Problem.fixed("empty", old=0x1fff000, new=0x1dff000, length=0x601000, stack=True, step=3)
    assert p.answers() == {"empty": frozenset({0x2200000})}
    assert p.check("{0x2200000}").right and p.check([0x2200000]).right
    fb = p.check("0x1e00000, 0x2000001")
    text = fb["empty"].explanation
    assert "after step 3 of 4 on 6.6:" in text
    assert "0x2200000 is present but empty: step 3 moved its pages away with move_ptes()" in text
    assert "0x1e00000: that PMD entry still maps 512 pages" in text
    assert "0x2000001 is not a PMD entry's base address" in text
    assert "Step 3: PMD move refused" in text
    done = Problem.fixed("empty", old=0x20000000, new=0x30000000, length=0x400000, step=2)
    assert done.answers() == {"empty": frozenset()} and done.check("none").right


def test_alignment_feedback_shows_the_offsets():
    v = Problem.fixed("aligned", old=0x1fff000, new=0x1dfe000, length=0x201000).check("yes")["aligned"]
    assert "old & (PMD_SIZE-1) = 0x1fff000 & 0x1fffff = 0x1ff000" in v.explanation
    assert "new & (PMD_SIZE-1) = 0x1dfe000 & 0x1fffff = 0x1fe000" in v.explanation


def test_solution_gives_every_answer_and_the_trace():
    text = e4().solution()
    assert "PMD moves on 6.6: 0\nPTE moves on 6.6: 513\nrefusals on 6.6: 1\nPMD moves on 6.7: 2" in text
    assert "On 6.7: realigned: nothing is mapped below old or new in their PMDs." in text
    assert "Step 2: PMD move refused" in text


# ---- instructor-fixed problems --------------------------------------------------------------------

# kernel-notes section 8: (old, new, length, stack, (pmd, pte, refusals) on 6.6, ... on 6.7)
WORKED = [
    (0x20000000, 0x30000000, 0x400000, False, (2, 0, 0), (2, 0, 0)),  # E1
    (0x20000000, 0x30001000, 0x400000, False, (0, 1024, 0), (0, 1024, 0)),  # E2
    (0x1fff000, 0x0fff000, 0x201000, False, (1, 1, 0), (2, 0, 0)),  # E3
    (0x1fff000, 0x1dff000, 0x201000, True, (0, 513, 1), (2, 0, 0)),  # E4
    (0x1fff000, 0x1dff000, 0x200000, True, (0, 512, 0), (1, 511, 0)),  # E5
    (0x1fff000, 0x1dff000, 0x601000, True, (0, 1537, 3), (4, 0, 0)),  # E6
]


@pytest.mark.parametrize("old, new, length, stack, pre, post", WORKED)
def test_fixed_problems_reproduce_the_worked_examples(old, new, length, stack, pre, post):
    p = Problem.fixed("counts", old=hex(old), new=new, length=length, stack=stack)
    assert p.title() == "Problem (fixed): counts" and p.seed is None
    assert p.check(list(pre + post)).right


def test_fixed_problem_with_its_own_kernel_and_geometry():
    p = Problem.fixed("counts", old=0x1f000, new=0xf000, length=0x9000, kernel="6.18", geometry="tiny")
    assert [i.name for i in p.items] == ["pmd_6.18", "pte_6.18", "refusals_6.18"]
    assert p.answers() == {"pmd_6.18": 2, "pte_6.18": 0, "refusals_6.18": 0}
    big = Problem.fixed("counts", old=0x40000000, new=0x80000000, length=0x40000000, kernel="6.7")
    assert big.answers()["pud_6.7"] == 1  # PUD moves are asked about only when one could happen


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(kind="nonsense"), ValueError, "kind must be one of"),
    (dict(kind="empty", step=3), ValueError, "step must be between 1 and 2"),
    (dict(kind="empty", step=0), ValueError, "step must be between 1 and 2"),
    (dict(kind="empty"), ValueError, "step must be between"),
    (dict(kind="realign", kernel="6.6"), ValueError, "no realignment"),
    (dict(kind="counts", kernel="6.99"), ValueError, "unknown kernel version"),
    (dict(kind="counts", new=0x1eff000, stack=False), OSError, "overlap"),
    (dict(kind="counts", old="0x1fff001"), OSError, "EINVAL.*not page aligned"),
    (dict(kind="counts", length="lots"), ValueError, "not a number"),
])
def test_fixed_problems_refuse_what_the_engine_refuses(kwargs, error, match):
    args = dict(old=0x1fff000, new=0x1dff000, length=0x201000, stack=True) | kwargs
    with pytest.raises(error, match=match):
        Problem.fixed(args.pop("kind"), **args)


@pytest.mark.parametrize("kwargs, match", [
    (dict(difficulty=5), "difficulty"), (dict(kind="counting"), "kind"), (dict(seed=-1), "seed"),
    (dict(seed="3"), "seed")])
def test_random_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Problem.random(**({"seed": 0} | kwargs))


# ---- reading answers ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("0x1fff000", 0x1fff000), ("4096", 4096), (4096, 4096), ("2M", 0x200000), ("4K", 0x1000), ("4KiB", 0x1000),
    ("1g", 1 << 30), ("0X10", 16), (" 12 ", 12), ("010", 10), ("1_000", 1000), ("2M+4K", 0x201000),
    ("2MiB + 4KiB", 0x201000), ("0x200000+4096", 0x201000), ("0x7f00_0000_0000", 0x7f0000000000)])
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "x", "-1", "0x", "1.5", "2Q", True, None, 1.0, "abc", "1fff000", "0b101",
                                  "0o17", "2M+", "+4K", "4KB", "0x2M", -1])
def test_parse_number_refuses(text):
    with pytest.raises(ValueError):
        parse_number(text)


def test_parse_bool_reason_addresses():
    assert [parse_bool(t) for t in ("yes", "No", "TRUE", "f" if False else "false", "y", "0", True)] == \
        [True, False, True, False, True, False, True]
    with pytest.raises(ValueError):
        parse_bool("maybe")
    assert parse_reason("guard") == "guard" and parse_reason("Length guard") == "guard"
    assert parse_reason("0") == "none" and parse_reason(str(len(REASONS) - 1)) == "not-start"
    with pytest.raises(ValueError):
        parse_reason("something")  # ambiguous: below old or below new
    assert parse_addresses("none") == frozenset() == parse_addresses("{}") == parse_addresses("")
    assert parse_addresses("{0x200000, 4M}") == {0x200000, 0x400000}
    assert parse_addresses([0x200000]) == {0x200000}


def test_feedback_is_plain_data():
    fb = e4("warn").check("yes")
    assert isinstance(fb, Feedback) and fb.right and str(fb) == "[right] does 6.6 WARN? (yes/no): yes\n1/1 right."


def test_importing_problems_loads_no_widgets_or_matplotlib():
    code = "import sys, pagemove.problems; print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_empty_pmds_helper_counts_only_present_empty_entries():
    r = simulate(0x1fff000, 0x1dff000, 0x201000, kernel="6.6", stack=True)
    assert empty_pmds(r, 0) == frozenset()
    assert empty_pmds(r, 1) == {0x1e00000}
    assert empty_pmds(r, 2) == {0x2000000}


# ---- THP and page-size problems (difficulty 4, or asked for by kind) ------------------------------------

@pytest.mark.parametrize("seed", range(16))
def test_other_machines_and_thp_problems(seed):
    """Deterministic, answered by the engine, and they really are about huge pages or another page size."""
    p = Problem.random(seed, difficulty=4)
    assert p == Problem.random(seed, difficulty=4) and p.kind in ("thp", "pagesize")
    if p.kind == "thp":
        assert p.thp and "THP-eligible" in str(p)
        names = ("huge", "split", "pmd", "pte")
    else:
        assert p.geometry in OTHER_GEOMETRIES and not p.thp
        names = ("pmd", "pte", "refusals")
    a = p.answers()
    for k in ("6.6", "6.7"):
        r = simulate(p.old, p.new, p.length, kernel=k, stack=p.stack, geometry=p.geometry, blockers=p.blockers,
                     thp=p.thp)
        attrs = {"huge": r.huge_pmd_moves, "split": r.huge_pmd_splits, "pmd": r.pmd_moves, "pte": r.pte_moves,
                 "refusals": r.refusals}
        assert {n: a[f"{n}_{k}"] for n in names} == {n: attrs[n] for n in names}
    assert p.check(a).right and not p.check({i.name: -1 for i in p.items}).right


def test_a_thp_problem_worked_by_hand():
    """Seed 1 at difficulty 4 (notebook 08's exercise 4): [0x7f02c0bc3000, 0x7f02c0e00000) to 0x7f02c07c3000.
    Old sits 0x1c3000 into its PMD, so 61 base pages come first, then one whole huge page. 6.6: the 61 pages
    go by move_ptes(), then move_huge_pmd() moves the leaf. 6.7: old and new are mutually aligned with
    nothing below, so the move starts at the PMD boundary: the PTE table moves whole (move_normal_pmd()),
    then the huge leaf."""
    p = Problem.random(1, difficulty=4)
    assert (p.kind, p.old, p.new, p.length) == ("thp", 0x7f02c0bc3000, 0x7f02c07c3000, 573 * 0x1000)
    a = p.answers()
    assert [a[f"{n}_6.6"] for n in ("huge", "split", "pmd", "pte")] == [1, 0, 0, 61]
    assert [a[f"{n}_6.7"] for n in ("huge", "split", "pmd", "pte")] == [1, 0, 1, 0]


def test_thp_problems_cover_whole_moves_and_splits():
    seen = [Problem.random(s, kind="thp", difficulty=4).answers() for s in range(30)]
    assert any(a["huge_6.6"] for a in seen) and any(a["split_6.6"] for a in seen)
    assert any(a["huge_6.7"] > a["huge_6.6"] or a["pmd_6.7"] > a["pmd_6.6"] for a in seen)  # 6.7 realigns some
    kinds = {Problem.random(s, difficulty=4).geometry for s in range(40)}
    assert set(OTHER_GEOMETRIES) | {"x86_64"} == kinds


def test_difficulties_1_to_3_draw_only_the_core_kinds():
    """(The problems of seeds 0-9 at difficulties 1-3 are pinned by the golden tests above.)"""
    assert all(Problem.random(s, difficulty=d).kind in CORE_KINDS for d in (1, 2, 3) for s in range(20))


def test_an_unreadable_answer_holding_a_semicolon_is_quoted_whole():
    p = Problem.random(0)
    item = p.items[0]
    shown = str(p.check({item.name: "1; 2"}))
    assert "'1; 2'" in shown and "(answer:" in shown.split("'1; 2'")[1].splitlines()[0]
