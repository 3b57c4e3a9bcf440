"""The command line: success paths, and every bad argument as one line on stderr with exit status 2."""

import json
import re
import subprocess
import sys

import pytest

from pagemove.__main__ import main
from pagemove.problems import Problem


def run(*argv):
    """python -m pagemove in a fresh interpreter: (exit status, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "pagemove", *argv], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


# ---- move -----------------------------------------------------------------------------------------

def test_move_prints_the_report_for_the_warn_case(capsys):
    assert main(["move", "--old", "0x1fff000", "--new", "0x1dff000", "--len", "0x201000", "--stack",
                 "--kernel", "6.6"]) == 0
    out = capsys.readouterr().out
    assert "moves: 0 PUD, 0 PMD, 513 PTE; refusals: 1; steps: 2" in out
    assert "WARNING:" in out and "move_normal_pmd" in out
    assert "present, EMPTY" in out  # the text picture after the loop


def test_move_accepts_decimal_and_suffixes(capsys):
    assert main(["move", "--old", str(0x1fff000), "--new", "0xfff000", "--length", "2M+4K", "--kernel", "6.7"]) == 0
    out = capsys.readouterr().out
    assert "moves: 0 PUD, 2 PMD, 0 PTE; refusals: 0" in out and "0x000001e00000 -> 0x000000e00000" in out


def test_move_json(capsys):
    assert main(["move", "--old", "0x1fff000", "--new", "0x0fff000", "--len", "0x201000",
                 "--blocker", "0xe00000:4K", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["counts"] == {"pud_moves": 0, "pmd_moves": 1, "pte_moves": 1, "refusals": 0}
    assert d["realigned"] is False and d["realign_check"].startswith("cannot align new down")
    assert d["moved"] == 0x201000 and d["kernel"] == "6.18" and d["operation"] == "mremap"
    assert [e["level"] for e in d["events"]] == ["PTE", "PMD"]
    assert [(e["step"], e["index"]) for e in d["events"]] == [(1, 0), (2, 1)]  # readers count steps from 1
    assert d["events"][1]["describe"].startswith("Step 2: PMD move of 0x2000000..0x2200000 -> 0x1000000")
    assert d["tlb_flushes"] == [[0x1fff000, 0x2000000], [0x2000000, 0x2200000]]
    assert d["damage"] is None


def test_move_tiny_geometry_and_unchecked(capsys):
    assert main(["move", "--old", "0x1f000", "--new", "0xf000", "--len", "0x9000", "--geometry", "tiny",
                 "--kernel", "6.6", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["pte_moves"] == 1
    # Linus' expansion without can_align_down(): a page below old is dragged along
    assert main(["move", "--old", "0x1fff000", "--new", "0x0fff000", "--len", "0x201000", "--unchecked",
                 "--blocker", "0x1e00000:4K", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["unchecked"] is True and "dragged" in d["damage"]


def test_move_through_a_real_subprocess():
    code, out, err = run("move", "--old", "0x1fff000", "--new", "0x1dff000", "--len", "0x201000", "--stack",
                         "--kernel", "6.7")
    assert code == 0 and err == ""
    assert "moves: 0 PUD, 2 PMD, 0 PTE; refusals: 0" in out


def test_move_into_a_closed_pipe_is_quiet():
    p = subprocess.run(f"{sys.executable} -m pagemove move --old 0x1fff000 --new 0xfff000 --len 0x201000 --json "
                       f"| head -c 10", shell=True, capture_output=True, text=True, timeout=120)
    assert p.stdout == "{\n  \"opera" and p.stderr == ""


@pytest.mark.parametrize("example", [line.strip() for line in __import__("pagemove.__main__").__main__
                                     .MOVE_EXAMPLES.splitlines() if line.strip().startswith("pagemove ")])
def test_help_examples_run(example, capsys):
    assert main(example.split()[1:]) == 0
    assert capsys.readouterr().out


# ---- quiz -----------------------------------------------------------------------------------------

def test_quiz_prints_problems_and_hides_answers(capsys):
    assert main(["quiz", "--seed", "2", "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ARG seed 2\nARG count 2\nARG compute False\n")
    assert str(Problem.random(2)) in out and str(Problem.random(3)) in out
    assert Problem.random(2).solution() not in out
    assert out.rstrip().endswith("run again with -c to see them.")


def test_quiz_prints_the_item_names_answers_take_and_no_python_none(capsys):
    assert main(["quiz", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out and "ARG kind any\n" in out
    p = Problem.random(7)
    for item in p.items:  # each answer line starts with the ITEM of -a ITEM=VALUE
        assert re.search(rf"^  {re.escape(item.name)} +{re.escape(item.label)}: \?$", out, re.M), item.name
    assert "-a ITEM=VALUE" in out and f"-a {p.items[0].name}=" in out
    # ... and those names are what -a accepts
    assert main(["quiz", "--seed", "7", *[a for i in p.items for a in ("-a", f"{i.name}=0")]]) in (0, 1)
    assert "no such item" not in capsys.readouterr().err


def test_quiz_reads_answers_in_the_one_grammar_and_says_what_it_could_not_read(capsys):
    assert main(["quiz", "--seed", "7", "-a", "pte_6.6=0x7", "-a", "pmd_6.6=zero"]) == 1
    out = capsys.readouterr().out
    assert "[right] PTE moves on 6.6: 7" in out
    assert "[wrong] PMD moves on 6.6: 'zero' is not a number (answer: 1)" in out and "(no answer) (answer: 1)" \
        not in out.split("PMD moves on 6.6")[1].split("\n")[0]


def test_quiz_c_prints_the_solutions(capsys):
    assert main(["quiz", "-s", "0x7", "-c", "--kind", "counts", "--difficulty", "3"]) == 0
    out = capsys.readouterr().out
    p = Problem.random(7, kind="counts", difficulty=3)
    assert str(p) in out and p.solution() in out


def test_quiz_is_the_same_in_every_process():
    a, b = run("quiz", "--seed", "11", "-c", "-n", "3"), run("quiz", "--seed", "11", "-c", "-n", "3")
    assert a == b and a[0] == 0 and a[1].count("Problem (seed") == 3


def test_quiz_checks_answers(capsys):
    assert main(["quiz", "--seed", "7", "-a", "pmd_6.6=1", "-a", "pte_6.6=0x7", "-a", "refusals_6.6=0",
                 "-a", "pmd_6.7=2", "-a", "pte_6.7=0", "-a", "refusals_6.7=0"]) == 0
    assert capsys.readouterr().out.endswith("6/6 right.\n")
    assert main(["quiz", "--seed", "7", "-a", "pmd_6.6=2"]) == 1
    out = capsys.readouterr().out
    assert "[wrong] PMD moves on 6.6: 2 (answer: 1)" in out and "Step 1: move_ptes() moved 7 present PTEs" in out


# ---- help -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["--help"], ["move", "quiz", "lab"]),
    (["move", "--help"], ["examples:", "--stack", "--blocker START:LEN", "2M+4K"]),
    (["quiz", "--help"], ["examples:", "-c", "--difficulty"]),
])
def test_help_has_examples(capsys, argv, words):
    assert main(argv) == 0
    out = capsys.readouterr().out
    for w in words:
        assert w in out


# ---- errors: one line, exit 2 ---------------------------------------------------------------------

BAD = [
    (["move", "--old", "0x1000", "--new", "0x300000", "--len", "4K"],
     "pagemove move: error: Operation not permitted (EPERM): mmap: addr 0x1000 is below vm.mmap_min_addr"),
    (["move", "--old", "0x1fff000", "--new", "0x1eff000", "--len", "0x201000"],
     "pagemove move: error: Invalid argument (EINVAL): mremap: the ranges [0x1fff000, 0x2200000) and "
     "[0x1eff000, 0x2100000) overlap"),
    (["move", "--old", "0x1fff000", "--new", "xyz", "--len", "0x201000"],
     "pagemove move: error: argument --new: 'xyz' is not a number; write hex 0x1fff000, decimal 4096, or a size"),
    (["move", "--old", "0x1fff000", "--new", "0x1dff000", "--len", "0x201000", "--kernel", "9.9"],
     "pagemove move: error: argument --kernel: unknown kernel version '9.9'"),
    (["move", "--old", "0x1fff001", "--new", "0xfff000", "--len", "2M"],
     "pagemove move: error: Invalid argument (EINVAL): mmap: addr 0x1fff001 is not page aligned"),
    (["move", "--old", "0x100000", "--new", "0x300000", "--len", "4K", "--stack"],
     "pagemove move: error: the execve stack move only goes down"),
    (["move", "--old", "0x1fff000", "--new", "0xfff000", "--len", "2M", "--blocker", "0xe00000"],
     "pagemove move: error: argument --blocker: expected START:LEN"),
    (["move", "--old", "0x1fff000", "--new", "0xfff000", "--len", "2M", "--blocker", "0x1fff000:4K"],
     "pagemove move: error: File exists (EEXIST): mmap"),
    (["move", "--old", "0x1fff000", "--new", "0xfff000"], "pagemove move: error: the following arguments are "
                                                            "required: --len"),
    (["move", "--old", "0x1fff000", "--new", "0xfff000", "--len", "2M", "--geometry", "sparc"],
     "pagemove move: error: argument --geometry: invalid choice: 'sparc'"),
    (["quiz", "--count", "0"], "pagemove quiz: error: --count must be at least 1, got 0"),
    (["quiz", "-a", "pmd"], "pagemove quiz: error: --answer wants ITEM=VALUE"),
    (["quiz", "-a", "pmd=1"], "pagemove quiz: error: no such item(s) ['pmd']"),
    (["quiz", "-a", "pmd_6.6=1", "-n", "2"], "pagemove quiz: error: --answer checks one problem"),
    (["quiz", "--kind", "foo"], "pagemove quiz: error: argument --kind: invalid choice: 'foo'"),
    (["quiz", "--difficulty", "5"], "pagemove quiz: error: argument -d/--difficulty: invalid choice: 5"),
    (["quiz", "--seed", "-3"], "pagemove quiz: error: argument -s/--seed"),
    (["frobnicate"], "pagemove: error: argument COMMAND: invalid choice: 'frobnicate'"),
    ([], "pagemove: error: the following arguments are required: COMMAND"),
    (["lab", "--bogus"], "pagemove lab: error: unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize("argv, start", BAD)
def test_bad_arguments_give_one_line_and_status_2(capsys, argv, start):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(start), err


@pytest.mark.parametrize("argv, start", [BAD[0], BAD[1], BAD[-1]])
def test_bad_arguments_through_a_real_subprocess(argv, start):
    code, out, err = run(*argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith(start)
    assert "Traceback" not in err


def test_lab_missing_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pagemove.lab", None)  # import now raises ImportError
    import pagemove
    monkeypatch.delattr(pagemove, "lab", raising=False)
    assert main(["lab"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pagemove lab: error: the real-kernel lab is not available") and err.count("\n") == 1


def test_lab_help_is_delegated(capsys):
    assert main(["lab", "--help"]) == 0
    assert "usage: pagemove lab" in capsys.readouterr().out


def test_importing_the_cli_does_not_import_the_lab():
    code = "import sys, pagemove.__main__; print('pagemove.lab' in sys.modules, 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_move_thp_and_other_geometries(capsys):
    assert main(["move", "--old", "0x40000000", "--new", "0x80001000", "--len", "4M", "--thp", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["huge_pmd_moves"], d["huge_pmd_splits"], d["counts"]["pte_moves"]) == (0, 2, 1024)
    assert main(["move", "--old", "0x3fff0000", "--new", "0x1fff0000", "--len", "0x20010000", "--stack",
                 "--kernel", "6.6", "--geometry", "arm64_64k", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["geometry"] == "arm64_64k" and d["counts"]["refusals"] == 1 and d["counts"]["pte_moves"] == 8193
