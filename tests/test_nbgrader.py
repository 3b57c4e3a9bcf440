"""A real nbgrader round trip in a temporary course: generate_assignment, autograde, the SQLite gradebook.

One course, built once for the module: `pagemove assignment` writes the source notebook (one problem of
every kind); `nbgrader generate_assignment` releases it; three students submit: alice the source notebook
(every solution), bob the blank release, carol the release filled in the way a student does (answers as
strings in pagemove's number grammar, the `raise` deleted) with one answer wrong. One `nbgrader autograde`
grades all three, and nbgrader's own Gradebook API reads the scores.

nbgrader runs `alembic` from PATH when it creates the gradebook, so the venv's bin/ goes first on PATH.
Jupyter's state lives under the temporary directory, never in $HOME.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser_support import jupyter_env

from pagemove.assignment import _literal, problems_for
from pagemove.problems import KINDS, REASONS

pytest.importorskip("nbgrader", reason="nbgrader is in the `grade` extra (make install installs it)")
from nbgrader.api import Gradebook  # noqa: E402

NAME = "hw1"
POINTS = 2  # per answer item
SEED, DIFFICULTY = 40, 2
KIND_LIST = list(KINDS)
WRONG_PROBLEM = KIND_LIST.index("counts") + 1  # carol gets one item of this problem wrong


def nbgrader(course: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """One nbgrader command in the course directory, from this venv; fails the test on a non-zero exit."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def as_string(value, type_: str) -> str:
    """How a student might write an answer: numbers and addresses in hex, sets as text, bools as yes/no."""
    if type_ == "bool":
        return "yes" if value else "no"
    if type_ == "addresses":
        return ", ".join(f"{a:#x}" for a in sorted(value)) or "none"
    if type_ in ("int", "address"):
        return f"{value:#x}"
    return value


def wrong(value, type_: str):
    """A wrong answer of the same type."""
    if type_ == "bool":
        return not value
    if type_ == "choice":
        return next(k for k in REASONS if k != value)
    if type_ == "addresses":
        return set(value) ^ {0x100000}
    return value + 1


def student_fills_in(release: dict, problems, wrong_item: tuple[int, str]) -> dict:
    """The release notebook with every answer cell filled in as a student does, one item answered wrong."""
    nb = json.loads(json.dumps(release))
    for n, p in enumerate(problems, 1):
        (cell,) = [c for c in nb["cells"] if c["id"] == f"answer-{n}"]
        answers = p.answers()
        lines = [f"answers_{n} = {{"]
        for item in p.items:
            value = answers[item.name]
            if (n, item.name) == wrong_item:
                lines.append(f"    {json.dumps(item.name)}: {_literal(wrong(value, item.type), item.type)},")
            else:
                lines.append(f"    {json.dumps(item.name)}: {json.dumps(as_string(value, item.type))},")
        cell["source"] = "\n".join(lines + ["}"])
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course after one autograde run: (course dir, problems, gradebook URL, wrong item)."""
    from pagemove.__main__ import main

    tmp = tmp_path_factory.mktemp("nbgrader")
    course = tmp / "course"
    env = jupyter_env(tmp / "state")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    assert main(["assignment", NAME, "--course", str(course), "--count", str(len(KIND_LIST)), "--seed", str(SEED),
                 "--difficulty", str(DIFFICULTY), "--kind", *KIND_LIST, "--points", str(POINTS)]) == 0
    problems = problems_for(len(KIND_LIST), SEED, DIFFICULTY, KIND_LIST)

    nbgrader(course, env, "generate_assignment", NAME)
    source = course / "source" / NAME / f"{NAME}.ipynb"
    release = json.loads((course / "release" / NAME / f"{NAME}.ipynb").read_text())

    counts = problems[WRONG_PROBLEM - 1]
    wrong_item = (WRONG_PROBLEM, counts.items[1].name)
    submissions = {"alice": json.loads(source.read_text()), "bob": release,
                   "carol": student_fills_in(release, problems, wrong_item)}
    for student, nb in submissions.items():
        folder = course / "submitted" / student / NAME
        folder.mkdir(parents=True)
        (folder / f"{NAME}.ipynb").write_text(json.dumps(nb, indent=1))
    nbgrader(course, env, "autograde", NAME)
    yield course, problems, f"sqlite:///{course / 'gradebook.db'}", wrong_item, release
    shutil.rmtree(tmp / "state", ignore_errors=True)


def scores(db_url: str, student: str) -> tuple[float, float, dict]:
    """(score, max score, {grade cell: score}) of a student's submission, from nbgrader's Gradebook."""
    with Gradebook(db_url) as gb:
        submission = gb.find_submission(NAME, student)
        nb = gb.find_submission_notebook(NAME, NAME, student)
        return submission.score, submission.max_score, {g.name: g.score for g in nb.grades}


def max_points(problems) -> dict:
    return {f"check-{n}": len(p.items) * POINTS for n, p in enumerate(problems, 1)}


def test_release_hides_solutions_and_grading(graded):
    _, problems, _, _, release = graded
    text = json.dumps(release)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "grade(problem_" not in text
    for n in range(1, len(problems) + 1):
        (cell,) = [c for c in release["cells"] if c["id"] == f"answer-{n}"]
        assert "".join(cell["source"]).endswith("}\n# YOUR CODE HERE\nraise NotImplementedError()")
        (check,) = [c for c in release["cells"] if c["id"] == f"check-{n}"]
        assert f"precheck(problem_{n}, answers_{n}" in "".join(check["source"])


def test_gradebook_knows_the_assignment_and_its_points(graded):
    _, problems, db_url, _, _ = graded
    with Gradebook(db_url) as gb:
        assignment = gb.find_assignment(NAME)
        assert assignment.max_score == sum(len(p.items) for p in problems) * POINTS
        assert sorted(s.id for s in gb.students) == ["alice", "bob", "carol"]


def test_the_source_notebook_gets_full_marks(graded):
    _, problems, db_url, _, _ = graded
    score, top, cells = scores(db_url, "alice")
    assert score == top == sum(max_points(problems).values())
    assert cells == max_points(problems)


def test_the_blank_release_gets_zero(graded):
    _, problems, db_url, _, _ = graded
    score, top, cells = scores(db_url, "bob")
    assert score == 0 and top == sum(max_points(problems).values())
    assert cells == dict.fromkeys(max_points(problems), 0)


def test_one_wrong_answer_loses_exactly_its_points(graded):
    _, problems, db_url, (n, _), _ = graded
    score, top, cells = scores(db_url, "carol")
    assert score == top - POINTS
    expected = max_points(problems)
    expected[f"check-{n}"] -= POINTS
    assert cells == expected


def test_the_graded_notebook_explains_the_wrong_answer(graded):
    course, problems, _, (n, item_name), _ = graded
    nb = json.loads((course / "autograded" / "carol" / NAME / f"{NAME}.ipynb").read_text())
    outputs = {c["id"]: c.get("outputs", []) for c in nb["cells"]}
    printed = "".join("".join(o.get("text", "")) for o in outputs[f"check-{n}"])
    p = problems[n - 1]
    item = next(i for i in p.items if i.name == item_name)
    answers = {i.name: as_string(p.answers()[i.name], i.type) for i in p.items}
    answers[item_name] = wrong(p.answers()[item_name], item.type)
    assert f"Problem {n}: {len(p.items) - 1} of {len(p.items)} items right" in printed
    assert f"[wrong] {item.label}:" in printed and str(p.check(answers)) in printed  # the widget's feedback
    for cell_outputs in outputs.values():  # nbgrader gives 0 to a cell that writes to stderr
        assert not [o for o in cell_outputs if o.get("name") == "stderr"]
