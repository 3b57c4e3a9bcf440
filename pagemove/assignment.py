"""Homework for nbgrader: seeded problems as an nbgrader source notebook, graded by Problem.check().

    python -m pagemove assignment hw1 --course course/ --count 5 --seed 100
    -> course/source/hw1/hw1.ipynb (and course/nbgrader_config.py when there is none)

Per problem the notebook holds three cells: the problem text (read-only), an answer cell the
student fills in (a plain dict; the engine's answers sit between nbgrader's solution markers) and
a test cell worth `points` per answer item. The test cell rebuilds the problem from its layout,
written out in full, so a later pagemove whose random problems differ still grades the problem the
student was shown. By default the grading call is an nbgrader *hidden test*: students see a check
that every answer is filled in and readable, and get the per-item feedback (right or wrong, and
why, from the step trace) with their grades. `practice=True` shows that feedback while they work.

The notebook JSON is written here, not with nbformat (not a pagemove dependency); the same
arguments give the same bytes, cell ids included.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from .problems import DIFFICULTIES, KINDS, REASONS, Problem

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_COUNT = 100
SCHEMA = 3  # nbgrader's cell metadata schema_version (nbgrader 0.9)

HOW_TO_WRITE = {
    "int": "a number",
    "address": "an address: 0x... (or decimal, or a size such as \"2M+4K\")",
    "bool": "True or False (or \"yes\"/\"no\")",
    "choice": "one of the condition keys listed above",
    "addresses": "a set of base addresses such as {0x120000, 0x128000}, or set() for none",
}


# ---- grading: what the test cells call -----------------------------------------------------------

def _known(problem: Problem, answers) -> tuple[dict, list[str]]:
    """The answers to this problem's items (`...` read as no answer), and any keys it does not ask for."""
    names = [item.name for item in problem.items]
    known = {n: (None if answers.get(n, None) is Ellipsis else answers.get(n)) for n in names}
    return known, sorted(str(k) for k in answers if k not in names)


def _not_a_dict(label: str, answers) -> str | None:
    if isinstance(answers, dict):
        return None
    return (f"{label}: the answers must be a dict such as {{\"pmd_6.6\": 1}}, got {type(answers).__name__}; "
            f"run the answer cell above first.")


def precheck(problem: Problem, answers, label: str = "This problem") -> None:
    """What students see before they submit: is every item answered and readable? (Not: is it right.)"""
    wrong_type = _not_a_dict(label, answers)
    if wrong_type:
        print(wrong_type)
        return
    known, unknown = _known(problem, answers)
    feedback = problem.check(known)
    unanswered = [v.item.name for v in feedback.verdicts if known[v.item.name] is None]
    unreadable = [v for v in feedback.verdicts if known[v.item.name] is not None and v.given is None]
    lines = []
    if unanswered:
        lines.append(f"  not answered yet: {', '.join(unanswered)}")
    for v in unreadable:
        lines.append(f"  {v.item.name}: cannot read {known[v.item.name]!r}: write {HOW_TO_WRITE[v.item.type]}")
    if unknown:
        lines.append(f"  this problem does not ask for {', '.join(unknown)} (it asks for "
                     f"{', '.join(known)})")
    if lines:
        print(f"{label}: not ready yet.")
        print("\n".join(lines))
    else:
        print(f"{label}: all {len(known)} answers are filled in and readable. They are graded when you "
              f"submit.")


def grade(problem: Problem, answers, points: float = 1, label: str = "This problem"):
    """The autograder's check: `points` per right item; prints the per-item feedback unless all are right.

    The return value is the cell's result, which nbgrader takes as the partial credit of the cell."""
    wrong_type = _not_a_dict(label, answers)
    if wrong_type:
        print(wrong_type)
        return 0
    known, unknown = _known(problem, answers)
    feedback = problem.check(known)
    right, total = feedback.score
    earned = _tidy(right * points)
    if right == total:
        print(f"{label}: all {total} items right, {earned} of {earned} points.")
    else:
        print(f"{label}: {right} of {total} items right, {earned} of {_tidy(total * points)} points.")
        print(feedback)
        if unknown:
            print(f"(Not graded: {', '.join(unknown)}; this problem asks for {', '.join(known)}.)")
    return earned


def _tidy(x: float):
    """An int when whole (so a cell shows 3, not 3.0), else a float rounded to 6 places."""
    x = round(float(x), 6)
    return int(x) if x.is_integer() else x


# ---- writing the notebook ------------------------------------------------------------------------

def problems_for(count: int, seed: int, difficulty: int, kinds: list[str] | None) -> list[Problem]:
    """The seeded problems, as `quiz` makes them: problem i has seed `seed + i`; kinds taken in turn."""
    check_args(count, seed, difficulty, kinds)
    return [Problem.random(seed + i, kind=kinds[i % len(kinds)] if kinds else None, difficulty=difficulty)
            for i in range(count)]


def check_args(count, seed, difficulty, kinds, points=1, variants=1) -> None:
    """ValueError naming the broken rule for a bad argument."""
    if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"--count must be between 1 and {MAX_COUNT}, got {count}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {seed}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"--difficulty must be one of {', '.join(map(str, DIFFICULTIES))}, got {difficulty}")
    for k in kinds or ():
        if k not in KINDS:
            raise ValueError(f"--kind must be one of {', '.join(KINDS)}, got {k!r}")
    if not 0 < points <= 1000:  # also refuses nan and inf
        raise ValueError(f"--points must be positive (at most 1000), got {points:g}")
    if not isinstance(variants, int) or not 1 <= variants <= MAX_COUNT:
        raise ValueError(f"--variants must be between 1 and {MAX_COUNT}, got {variants}")


def variant_problems(count, seed, difficulty, kinds, variants) -> list[list[Problem]]:
    """`variants` problem sets with disjoint seeds; every set asks the same kinds in the same order.

    Variant v (from 0) uses seeds seed + v*count ... seed + v*count + count - 1; its kinds are those
    of variant 0, so all variants are equally long and worth the same points."""
    check_args(count, seed, difficulty, kinds, variants=variants)
    first = problems_for(count, seed, difficulty, kinds)
    order = [p.kind for p in first]
    return [first] + [[Problem.random(seed + v * count + i, kind=order[i], difficulty=difficulty)
                       for i in range(count)] for v in range(1, variants)]


def notebook(name: str, problems: list[Problem], points: float = 1, practice: bool = False,
             repo: str | None = None) -> dict:
    """The nbgrader source notebook, as JSON data."""
    total = _tidy(sum(len(p.items) for p in problems) * points)
    cells = [_markdown("intro", _intro(name, problems, points, total, practice, repo))]
    for n, p in enumerate(problems, 1):
        cells.append(_markdown(f"problem-{n}", _problem_text(n, p, points)))
        cells.append(_code(f"answer-{n}", _answer_source(n, p), solution=True))
        cells.append(_code(f"check-{n}", _check_source(n, p, points, practice), points=len(p.items) * points))
    cells.append(_markdown("end", "**The end.** Before you submit: *Kernel → Restart Kernel and Run All Cells*, "
                                  "then check that every problem says its answers are readable."))
    return {"cells": cells,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def dumps(nb: dict) -> str:
    """Notebook JSON as nbformat writes it (one-space indent, sorted keys), so diffs stay small."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _nbgrader(grade_id: str, *, solution=False, points=None, locked=False) -> dict:
    meta = {"grade": points is not None, "grade_id": grade_id, "locked": locked or points is not None,
            "schema_version": SCHEMA, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = _tidy(points)
    return meta


def _lines(text: str) -> list[str]:
    """A cell source as nbformat stores it: lines keeping their newline, the last without."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def _markdown(grade_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": grade_id, "metadata": {"nbgrader": _nbgrader(grade_id, locked=True)},
            "source": _lines(text)}


def _code(grade_id: str, source: str, *, solution=False, points=None) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": grade_id,
            "metadata": {"nbgrader": _nbgrader(grade_id, solution=solution, points=points)},
            "outputs": [], "source": _lines(source)}


# ---- cell texts -------------------------------------------------------------------------------------

def _intro(name, problems, points, total, practice, repo) -> str:
    seeds = sorted(p.seed for p in problems)
    difficulty = problems[0].difficulty
    pts = f"{_tidy(points)} point{'s' * (points != 1)}"
    if repo:
        blob, tree = repo_pages(repo)
        background = (f"the [glossary]({blob}/notebooks/glossary.md) and the "
                      f"[notebooks]({tree}/notebooks) (00 to 05 explain every rule used here; "
                      f"07 has problems of the same kinds with the exercise widget)")
    else:
        background = ("the glossary (`notebooks/glossary.md`) and the notebooks 00 to 05 of pagemove, which "
                      "explain every rule used here; notebook 07 has problems of the same kinds with the "
                      "exercise widget")
    when = ("Run the check cell under each answer: it says which answers are right, and for each wrong "
            "one what the kernel does instead." if practice else
            "Run the cell under each answer: it checks that every answer is filled in and readable. "
            "Whether they are right is graded when you submit; the feedback then shows each wrong answer "
            "with what the kernel does, step by step.")
    return f"""# {name}: how Linux moves page tables

{len(problems)} problem{'s' * (len(problems) != 1)} about `move_page_tables()` (`mm/mremap.c`) on \
`mremap()` and on `execve()`'s stack shift, {total} points in all ({pts} per answer). Each describes \
one move; work out what the kernel does, on paper or in your head, and write your answers in the cell \
under it. "6.6" and "6.7" are the kernels before and after the mutual-alignment fix (6.7's \
`try_realign_addr()`). Background: {background}.

**How to answer.** In each answer cell replace every `...` with your answer, then delete the two lines \
that follow the dict (`# YOUR CODE HERE` and `raise NotImplementedError()`).

- Numbers and addresses: hex `0x1e00000`, decimal `31457280`, or a size as a string: `"30M"`, `"2M+4K"`.
- Yes or no: `True` or `False` (or `"yes"`, `"no"`).
- Which condition fails: one of the keys each such problem lists, such as `"guard"`.
- A set of PMD entries: `{{0x120000, 0x128000}}`, each entry by its base address, or `set()` for none.

{when}

*Problems: pagemove, seeds {seeds[0]} to {seeds[-1]}, difficulty {difficulty} \
({DIFFICULTIES[difficulty]}).*"""


def repo_pages(repo: str, branch: str = "main") -> tuple[str, str]:
    """The web pages of a repository's files and folders (GitHub or gitlab.com); else ValueError."""
    from .links import parse_repo
    host, _, https = parse_repo(repo)
    if host == "github.com":
        return f"{https}/blob/{branch}", f"{https}/tree/{branch}"
    if host == "gitlab.com":
        return f"{https}/-/blob/{branch}", f"{https}/-/tree/{branch}"
    raise ValueError(f"--repo links need a GitHub or gitlab.com repository, got {repo!r}")


_CODE_TOKEN = re.compile(
    r"\[0x[0-9a-f]+, 0x[0-9a-f]+\)"          # an address range [start, end)
    r"|\b[A-Za-z_][A-Za-z0-9_]*\([^()]*\)"   # a call: mremap(old, len, ...), relocate_vma_down()
    r"|\b[A-Za-z]+_[A-Za-z0-9_]*\b"           # a kernel name: PMD_SIZE, WARN_ON_ONCE, move_ptes
    r"|\b0x[0-9a-f]+\b")                      # a number in hex
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def markdown_of(text: str) -> str:
    """Plain problem text as Markdown that renders to the same words: kernel names and numbers as code."""
    out, last = [], 0
    for m in _CODE_TOKEN.finditer(text):
        out.append(_MARKDOWN_SPECIAL.sub(r"\\\1", text[last:m.start()]))
        out.append(f"`{m.group(0)}`")
        last = m.end()
    out.append(_MARKDOWN_SPECIAL.sub(r"\\\1", text[last:]))
    return "".join(out)


def _problem_text(n: int, p: Problem, points) -> str:
    lines = [f"## Problem {n}", "", f"*{markdown_of(p.title())}*", ""]
    lines += [markdown_of(line) + "  " for line in p.setup().splitlines()]  # two spaces: a line break
    lines[-1] = lines[-1].rstrip()
    lines += ["", f"**Q:** {markdown_of(p.question())}", ""]
    lines += ["| answer key | what | how to write it |", "| --- | --- | --- |"]
    lines += [f"| `\"{item.name}\"` | {markdown_of(item.label)} | {markdown_of(HOW_TO_WRITE[item.type])} |"
              for item in p.items]
    if any(item.type == "choice" for item in p.items):
        lines += ["", "The condition keys: " + "; ".join(f"`\"{k}\"`: {markdown_of(w)}" for k, w in REASONS.items())
                  + "."]
    n_items, pts = len(p.items), f"{_tidy(points)} point{'s' * (points != 1)}"
    lines += ["", f"{n_items} answers, {pts} each." if n_items > 1 else f"1 answer, {pts}."]
    return "\n".join(lines)


def _literal(value, type_: str) -> str:
    """An answer as the Python literal a student would write."""
    if type_ == "address":
        return f"{value:#x}"
    if type_ == "addresses":
        return "{" + ", ".join(f"{a:#x}" for a in sorted(value)) + "}" if value else "set()"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _answer_source(n: int, p: Problem) -> str:
    answers = p.answers()
    width = max(len(item.name) for item in p.items) + 3  # the quotes and the colon
    blank = [f"    {json.dumps(item.name) + ':':<{width}} ...,  # {item.label}" for item in p.items]
    solved = [f"    {json.dumps(item.name) + ':':<{width}} {_literal(answers[item.name], item.type)},"
              for item in p.items]
    return "\n".join([f"# Problem {n}: replace each ... with your answer.", f"answers_{n} = {{", *blank, "}",
                      "### BEGIN SOLUTION", f"answers_{n} = {{", *solved, "}", "### END SOLUTION"])


def construction(p: Problem) -> str:
    """Python that rebuilds exactly this problem: Problem(...) with every field that is not its default."""
    args = []
    for f in dataclasses.fields(p):
        value = getattr(p, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        if f.name in ("old", "new", "length"):
            text = f"{value:#x}"
        elif f.name == "blockers":
            text = "(" + "".join(f"({s:#x}, {k:#x}), " for s, k in value).rstrip(" ") + ")"
        else:
            text = json.dumps(value) if isinstance(value, str) else repr(value)
        args.append(f"{f.name}={text}")
    return "Problem(" + ", ".join(args) + ")"


def _wrap_call(head: str, call: str, width: int = 100) -> str:
    """`head + call` broken after the commas between top-level arguments, to fit `width` columns."""
    start = call.index("(") + 1
    args, depth, last = [], 0, start
    for i, ch in enumerate(call[start:-1], start):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            args.append(call[last:i + 1].strip())
            last = i + 1
    args.append(call[last:-1].strip() + ")")
    indent = " " * (len(head) + start)
    lines, line = [], head + call[:start]
    for arg in args:
        if len(line) + len(arg) + 1 > width and not line.endswith("("):
            lines.append(line.rstrip())
            line = indent
        line += arg + " "
    return "\n".join(lines + [line.rstrip()])


def _check_source(n: int, p: Problem, points, practice: bool) -> str:
    label = f"Problem {n}"
    head = [f"# {label}: {_tidy(points)} point{'s' * (points != 1)} per answer, checked with "
            f"Problem.check(), as the exercise widget checks.",
            "from pagemove.assignment import grade, precheck",
            "from pagemove.problems import Problem", "",
            _wrap_call(f"problem_{n} = ", construction(p))]
    call = f"grade(problem_{n}, answers_{n}, points={_tidy(points)!r}, label={json.dumps(label)})"
    if practice:
        return "\n".join(head + [call])
    head.insert(1, "# Here it checks that your answers can be read; whether they are right is graded when "
                   "you submit.")
    return "\n".join(head + [f"precheck(problem_{n}, answers_{n}, label={json.dumps(label)})",
                             "### BEGIN HIDDEN TESTS", call, "### END HIDDEN TESTS"])


# ---- files -------------------------------------------------------------------------------------------

CONFIG = '''\
# nbgrader configuration for a pagemove course, written by `python -m pagemove assignment`.
# Run the nbgrader commands from this directory, the course root: source/ holds the assignments,
# release/ what students get, submitted/ and autograded/ their work, gradebook.db the scores.
# See docs/teaching.md in the pagemove repository.
c = get_config()  # noqa: F821 (nbgrader provides get_config)

# The exchange (nbgrader release_assignment / collect on a JupyterHub) needs the course's name:
# c.CourseDirectory.course_id = "os-course"

# pagemove's checks take well under a second; this only bounds a cell that never ends.
c.ExecutePreprocessor.timeout = 120  # seconds per cell (nbgrader's default: 30)
'''


def check_name(name: str) -> None:
    """ValueError unless `name` can be an nbgrader assignment and a folder name everywhere."""
    if not NAME.fullmatch(name):
        raise ValueError(f"assignment name must be letters, digits, '_', '.' or '-' (starting with a letter "
                         f"or digit, at most 64), got {name!r}")


def write_assignment(course, name: str, problems: list[Problem], points: float = 1, practice: bool = False,
                     repo: str | None = None, force: bool = False) -> tuple[Path, bool]:
    """Write course/source/name/name.ipynb; returns (path, whether nbgrader_config.py was written).

    An existing notebook with other content is kept unless force (the lecturer may have edited it)."""
    check_name(name)
    course = Path(course)
    if course.exists() and not course.is_dir():
        raise ValueError(f"--course {course} is not a directory")
    path = course / "source" / name / f"{name}.ipynb"
    text = dumps(notebook(name, problems, points, practice, repo))
    if path.exists() and path.read_text() != text and not force:
        raise ValueError(f"{path} exists and differs (edited?); pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    config = course / "nbgrader_config.py"
    wrote_config = not config.exists()
    if wrote_config:
        config.write_text(CONFIG)
    return path, wrote_config
