"""`pagemove assignment`: the nbgrader source notebook, its grading helpers and its command line.

The real nbgrader round trip (release, autograde, gradebook) is in test_nbgrader.py."""

import json
import re
import subprocess
import sys

import nbformat
import pytest
from markdown_it import MarkdownIt

from pagemove.__main__ import main
from pagemove.assignment import (
    CONFIG,
    construction,
    grade,
    markdown_of,
    notebook,
    precheck,
    problems_for,
    variant_problems,
)
from pagemove.problems import KINDS, Problem

ALL_KINDS = list(KINDS)


def cells(nb, prefix):
    return [c for c in nb["cells"] if c["id"].startswith(prefix)]


def source(cell) -> str:
    return "".join(cell["source"])


def solution_region(text: str) -> str:
    return text.split("### BEGIN SOLUTION\n", 1)[1].split("### END SOLUTION", 1)[0]


def skeleton(text: str) -> str:
    return text.split("### BEGIN SOLUTION", 1)[0]


def run_cli(*argv):
    p = subprocess.run([sys.executable, "-m", "pagemove", *argv], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def mixed():
    """One problem of every kind, at difficulty 2 (blockers come up), and its notebook."""
    problems = problems_for(len(ALL_KINDS), 40, 2, ALL_KINDS)
    return problems, notebook("hw", problems, points=2)


# ---- the notebook ---------------------------------------------------------------------------------

def test_the_notebook_is_valid_nbformat_with_nbgrader_cells(mixed):
    problems, nb = mixed
    nbformat.validate(nbformat.from_dict(nb))
    ids = [c["id"] for c in nb["cells"]]
    assert len(set(ids)) == len(ids)
    assert [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]] == ids
    answers, checks = cells(nb, "answer-"), cells(nb, "check-")
    assert len(answers) == len(checks) == len(problems)
    for p, answer, check in zip(problems, answers, checks):
        a, c = answer["metadata"]["nbgrader"], check["metadata"]["nbgrader"]
        assert a["solution"] and not a["grade"] and not a["locked"]
        assert c["grade"] and c["locked"] and not c["solution"] and c["points"] == 2 * len(p.items)
    for md in (c for c in nb["cells"] if c["cell_type"] == "markdown"):
        assert md["metadata"]["nbgrader"]["locked"]  # the problem texts are restored when grading


def test_each_problem_has_its_kind_in_turn_and_the_seeds_of_quiz(mixed):
    problems, _ = mixed
    assert [p.kind for p in problems] == ALL_KINDS
    assert [p.seed for p in problems] == list(range(40, 40 + len(ALL_KINDS)))
    assert problems == [Problem.random(40 + i, kind=k, difficulty=2) for i, k in enumerate(ALL_KINDS)]
    drawn = problems_for(3, 9, 1, None)  # no --kind: each seed draws its kind, as quiz does
    assert drawn == [Problem.random(9 + i, difficulty=1) for i in range(3)]


def test_the_solution_region_holds_the_engines_answers(mixed):
    problems, nb = mixed
    for n, (p, cell) in enumerate(zip(problems, cells(nb, "answer-")), 1):
        space = {}
        exec(solution_region(source(cell)), space)
        assert p.check(space[f"answers_{n}"]).right
        assert set(space[f"answers_{n}"]) == {item.name for item in p.items}


def test_the_skeleton_names_every_item_and_answers_none(mixed):
    problems, nb = mixed
    for n, (p, cell) in enumerate(zip(problems, cells(nb, "answer-")), 1):
        space = {}
        exec(skeleton(source(cell)), space)
        assert space[f"answers_{n}"] == {item.name: ... for item in p.items}
        assert grade(p, space[f"answers_{n}"]) == 0
        assert all(len(line) <= 100 for line in source(cell).splitlines())


def test_the_check_cell_rebuilds_exactly_the_problem_shown(mixed):
    problems, nb = mixed
    for n, (p, cell) in enumerate(zip(problems, cells(nb, "check-")), 1):
        text = source(cell)
        built = re.search(rf"problem_{n} = (Problem\(.*?\))\n", text, re.S).group(1)
        assert eval(built, {"Problem": Problem}) == p  # the full layout, not the seed: a later pagemove
        assert construction(p) in " ".join(text.split()).replace("( ", "(")  # whose random draws differ
        assert "### BEGIN HIDDEN TESTS" in text and f"grade(problem_{n}, answers_{n}, points=2" in text
        assert all(len(line) <= 100 for line in text.splitlines())


def test_construction_keeps_blockers_kernel_and_step():
    p = Problem.random(0, kind="empty", difficulty=2)
    assert p.blockers and p.kernel and p.step is not None
    assert eval(construction(p), {"Problem": Problem}) == p


def test_practice_mode_shows_the_grading_call():
    (p,) = problems_for(1, 3, 1, ["counts"])
    text = source(cells(notebook("hw", [p], practice=True), "check-")[0])
    assert "HIDDEN" not in text and "precheck" not in text.split("import")[-1]
    assert text.rstrip().endswith('grade(problem_1, answers_1, points=1, label="Problem 1")')


def plain_text(markdown: str) -> str:
    """The words a reader sees: markdown rendered to HTML, tags dropped, entities and spaces normalised."""
    import html
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    blocks = re.sub(r"</?(p|li|td|th|tr|h\d|br|ul|table|thead|tbody)\b[^>]*>", " ", rendered)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", blocks)).split())


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_problem_text_renders_to_the_widgets_words(kind, difficulty):
    """Escaping and code spans change the look, never the words: what the widget shows, the notebook shows."""
    for seed in range(3):
        p = Problem.random(seed, kind=kind, difficulty=difficulty)
        for text in [p.title(), p.question(), *p.setup().splitlines()] + [i.label for i in p.items]:
            assert plain_text(markdown_of(text)) == " ".join(text.split()), text


def test_problem_cell_shows_setup_question_and_answer_keys(mixed):
    problems, nb = mixed
    for p, cell in zip(problems, cells(nb, "problem-")):
        words = plain_text(source(cell))
        assert " ".join(p.setup().split()) in words and " ".join(p.question().split()) in words
        for item in p.items:
            assert f'"{item.name}"' in words and item.label in words


def test_intro_links_to_the_glossary_and_notebooks_of_a_repository():
    (p,) = problems_for(1, 0, 1, None)
    with_repo = source(notebook("hw", [p], repo="https://github.com/ACCOUNT/pagemove.git")["cells"][0])
    assert "(https://github.com/ACCOUNT/pagemove/blob/main/notebooks/glossary.md)" in with_repo
    assert "(https://github.com/ACCOUNT/pagemove/tree/main/notebooks)" in with_repo
    gitlab = source(notebook("hw", [p], repo="https://gitlab.com/uni/os/pagemove")["cells"][0])
    assert "(https://gitlab.com/uni/os/pagemove/-/blob/main/notebooks/glossary.md)" in gitlab
    without = source(notebook("hw", [p])["cells"][0])
    assert "notebooks/glossary.md" in without and "](" not in without
    for text in (with_repo, without):
        assert "2M+4K" in text and "raise NotImplementedError()" in text and "1 point per answer" in text


# ---- grading -------------------------------------------------------------------------------------

def counts_problem():
    return Problem.fixed("counts", old=0x1fff000, new=0x1dff000, length=0x201000, stack=True)


def test_grade_gives_points_per_right_item_and_prints_the_feedback(capsys):
    p = counts_problem()
    right = p.answers()
    assert grade(p, right, points=1.5) == 9
    assert capsys.readouterr().out == "This problem: all 6 items right, 9 of 9 points.\n"
    one_wrong = dict(right, **{"refusals_6.6": 0})
    assert grade(p, one_wrong, points=1.5, label="Problem 2") == 7.5
    out = capsys.readouterr().out
    assert out.startswith("Problem 2: 5 of 6 items right, 7.5 of 9 points.\n")
    assert str(p.check(one_wrong)) in out and "[wrong] refusals on 6.6: 0 (answer: 1)" in out


def test_grade_reads_the_number_grammar_and_yes_no():
    p = counts_problem()
    written = {name: hex(value) for name, value in p.answers().items()}  # "0x201" for 513
    assert grade(p, written) == 6
    assert grade(p, dict(p.answers(), **{"pte_6.6": "513"})) == 6
    start = Problem.random(3, kind="start", difficulty=1)
    assert grade(start, {k: f"{v:#x}" for k, v in start.answers().items()}) == 2
    realign = Problem.random(4, kind="realign", difficulty=1)
    assert grade(realign, {"realign": "yes", "reason": "none"}) == 2


def test_grade_survives_what_students_write(capsys):
    p = counts_problem()
    assert grade(p, None, label="Problem 1") == 0
    assert "must be a dict" in capsys.readouterr().out
    extra = dict(p.answers(), typo=3)
    assert grade(p, extra) == 6  # the right answers still count; the stray key is reported
    assert grade(p, dict(extra, **{"pmd_6.6": 7})) == 5
    assert "Not graded: typo" in capsys.readouterr().out
    assert grade(p, dict(p.answers(), **{"pmd_6.6": "lots"})) == 5
    assert "PMD moves on 6.6: 'lots' is not a number" in capsys.readouterr().out  # the one grammar's message


def test_precheck_says_what_is_missing_never_what_is_right(capsys):
    p = counts_problem()
    precheck(p, {name: ... for name in p.answers()}, label="Problem 1")
    out = capsys.readouterr().out
    assert out.startswith("Problem 1: not ready yet.\n  not answered yet: pmd_6.6, pte_6.6, refusals_6.6")
    wrong = dict(p.answers(), **{"pmd_6.6": 99})
    precheck(p, wrong)
    assert capsys.readouterr().out == ("This problem: all 6 answers are filled in and readable. They are "
                                       "graded when you submit.\n")
    precheck(p, dict(wrong, **{"pte_6.6": "many"}))
    out = capsys.readouterr().out
    assert "pte_6.6: cannot read 'many': write a number" in out and "answer" not in out.split("write")[-1]


# ---- the command line ----------------------------------------------------------------------------

def test_assignment_writes_the_notebook_and_a_config_once(tmp_path, capsys):
    course = tmp_path / "course"
    assert main(["assignment", "hw1", "--course", str(course), "--count", "3", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    path = course / "source" / "hw1" / "hw1.ipynb"
    items = sum(len(p.items) for p in problems_for(3, 5, 1, None))
    assert out.startswith(f"wrote {path}\n  3 problems (seeds 5..7, difficulty 1), {items} answers, 1 point "
                          f"each: {items} points\nwrote {course / 'nbgrader_config.py'}\n")
    assert out.endswith(f"next, in {course}: nbgrader generate_assignment hw1   (docs/teaching.md)\n")
    nb = json.loads(path.read_text())
    assert nb == notebook("hw1", problems_for(3, 5, 1, None))
    assert (course / "nbgrader_config.py").read_text() == CONFIG
    (course / "nbgrader_config.py").write_text("c = get_config()\n")  # the lecturer's own config stays
    assert main(["assignment", "hw2", "--course", str(course), "--count", "1"]) == 0
    assert (course / "nbgrader_config.py").read_text() == "c = get_config()\n"
    assert "nbgrader_config" not in capsys.readouterr().out


def test_config_is_python_that_nbgrader_can_load(tmp_path):
    from traitlets.config import Config
    seen = Config()
    exec(CONFIG, {"get_config": lambda: seen})
    assert seen.ExecutePreprocessor.timeout == 120


def test_same_arguments_same_bytes_in_every_process(tmp_path):
    args = ["--count", "4", "--difficulty", "2", "--seed", "17", "--kind", "counts", "empty", "--points", "0.5"]
    for d in ("a", "b"):
        code, _, err = run_cli("assignment", "hw", "--course", str(tmp_path / d), *args)
        assert code == 0 and err == ""
    a, b = ((tmp_path / d / "source/hw/hw.ipynb").read_bytes() for d in "ab")
    assert a == b
    code, _, _ = run_cli("assignment", "hw", "--course", str(tmp_path / "a"), *args)  # unchanged: no --force
    assert code == 0 and (tmp_path / "a/source/hw/hw.ipynb").read_bytes() == a
    assert b'"points": 1.5' in a or b'"points": 0.5' in a


def test_variants_share_kinds_and_points_with_disjoint_seeds(tmp_path, capsys):
    assert main(["assignment", "hw", "--course", str(tmp_path), "--count", "4", "--variants", "3",
                 "--seed", "10"]) == 0
    sets = variant_problems(4, 10, 1, None, 3)
    seeds = [p.seed for s in sets for p in s]
    assert seeds == list(range(10, 22))
    for v, problems in enumerate(sets, 1):
        assert [p.kind for p in problems] == [p.kind for p in sets[0]]
        nb = json.loads((tmp_path / f"source/hw-v{v}/hw-v{v}.ipynb").read_text())
        assert nb == notebook(f"hw-v{v}", problems)
        assert sum(c["metadata"]["nbgrader"].get("points", 0) for c in nb["cells"]) == \
            sum(len(p.items) for p in sets[0])
    assert not (tmp_path / "source/hw").exists()


def test_force_overwrites_an_edited_notebook(tmp_path, capsys):
    args = ["assignment", "hw", "--course", str(tmp_path), "--count", "1"]
    assert main(args) == 0
    path = tmp_path / "source/hw/hw.ipynb"
    path.write_text(path.read_text().replace("Problem 1", "Problem one"))
    assert main(args) == 2
    assert "exists and differs (edited?); pass --force" in capsys.readouterr().err
    assert "Problem one" in path.read_text()
    assert main(args + ["--force"]) == 0 and "Problem one" not in path.read_text()


def test_help_has_examples_that_run(tmp_path, capsys, monkeypatch):
    assert main(["assignment", "--help"]) == 0
    out = capsys.readouterr().out
    for word in ("examples:", "--variants K", "--kind KIND", "nbgrader generate_assignment", "docs/teaching.md"):
        assert word in out
    examples = [line.split() for line in out.splitlines() if line.strip().startswith("pagemove assignment ")]
    assert len(examples) >= 3
    monkeypatch.chdir(tmp_path)
    for argv in examples:
        assert main(argv[1:]) == 0, argv


BAD = [
    (["--count", "0"], "--count must be between 1 and 100, got 0"),
    (["--count", "many"], "argument -n/--count: 'many' is not a number"),
    (["--kind", "counts", "bogus"], "argument --kind: invalid choice: 'bogus'"),
    (["--difficulty", "9"], "argument -d/--difficulty: invalid choice: 9"),
    (["--points", "0"], "--points must be positive (at most 1000), got 0"),
    (["--variants", "0"], "--variants must be between 1 and 100, got 0"),
    (["--repo", "pagemove"], "expected a repository URL such as https://github.com/ACCOUNT/pagemove"),
    (["--repo", "https://git.example.org/os/pagemove"], "--repo links need a GitHub or gitlab.com repository"),
]


@pytest.mark.parametrize("extra, message", BAD)
def test_bad_arguments_give_one_line_and_status_2(tmp_path, capsys, extra, message):
    assert main(["assignment", "hw", "--course", str(tmp_path / "c"), *extra]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("pagemove assignment: error: ")
    assert message in err, err
    assert not (tmp_path / "c").exists()  # nothing written


def test_bad_name_and_course_give_one_line(tmp_path, capsys):
    assert main(["assignment", "../hw", "--course", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("pagemove assignment: error: assignment name must be")
    (tmp_path / "file").write_text("")
    assert main(["assignment", "hw", "--course", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().err == f"pagemove assignment: error: --course {tmp_path / 'file'} is not a " \
                                      f"directory\n"
    assert main(["assignment", "hw"]) == 2
    assert "the following arguments are required: --course" in capsys.readouterr().err
