"""The exercise widget: a problem, its answer fields, Check, per-item feedback, and the solution.

    from pagemove.problems_widget import ExerciseWidget
    ex = ExerciseWidget(seed=0, difficulty=1)      # display `ex` in a notebook
    ex.answer(pmd_6_6="1")                         # what typing into a field does (item names, '.' as '_')
    ex.check(); print(ex.feedback)                 # what clicking Check does
    ex.new_problem()                               # "New problem": the next seed
    ExerciseWidget(problem=Problem.fixed(...))     # an instructor's fixed problem: seed, difficulty,
    ex.random_button.click()                       #   kind and New problem stay hidden until this

All the logic is in pagemove.problems; this module only collects answers and shows text. The seed of
a random problem is always on screen, so a student can say "seed 12, difficulty 2" and everyone sees the
same problem. Bad input never raises: it shows up inside the widget.
"""

from __future__ import annotations

import html

import ipywidgets as W

from .a11y import Accessibility, no_null_titles
from .numbers import ACCEPTED
from .problems import DIFFICULTIES, KINDS, REASONS, Problem
from .widgets import fit_width

ANY = "any"
YES_NO = [("", ""), ("yes", "yes"), ("no", "no")]


class ExerciseWidget:
    """Ask me another: seeded problems with checked answers."""

    def __init__(self, seed: int = 0, difficulty: int = 1, kind: str | None = None, problem: Problem | None = None):
        self.problem: Problem | None = None
        self.feedback = None  # the last pagemove.problems.Feedback
        self.error = ""  # why the last action could not be done
        self._build(seed, difficulty, kind)
        if problem is not None:
            self.show(problem)
        else:
            self._load()
        self._random_controls(problem is None)

    # ---- public --------------------------------------------------------------------------------

    @property
    def fixed(self) -> bool:
        """Is a fixed problem shown (seed, difficulty, kind and New problem hidden)?"""
        return self.random_box.layout.display == "none"

    def new_problem(self) -> None:
        """The "New problem" button: the next seed, same difficulty and kind."""
        if self.fixed:
            return  # a fixed problem stays until the learner asks for random ones
        self.seed.value = self.seed.value + 1  # the observer loads it

    def random_problems(self) -> None:
        """The "Random problems" button: leave the fixed problem for seeded ones, from the seed shown."""
        self._random_controls(True)
        self._load()

    def show(self, problem: Problem) -> None:
        """Show this problem (a fixed one, or one from Problem.random)."""
        self.problem, self.feedback, self.error = problem, None, ""
        self.title.value = f"<b>{html.escape(problem.title())}</b>"
        self.text.value = _pre(f"{problem.setup()}\n\nQ: {problem.question()}")
        self.fields = {item.name: _field(item) for item in problem.items}
        self.form.children = list(self.fields.values())
        self.result.value = ""
        self.solution.value = ""

    def answer(self, **values) -> None:
        """Type into the answer fields; keys are item names, with '_' for '.' (pmd_6_6 for pmd_6.6)."""
        for key, value in values.items():
            name = next((n for n in self.fields if n.replace(".", "_") == key or n == key), None)
            if name is None:
                self._fail(f"no answer field {key!r}; this problem has {', '.join(self.fields)}")
                return
            self.fields[name].value = "" if value is None else str(value)

    def check(self) -> None:
        """The Check button: per-item right/wrong, and why for each wrong one."""
        if self.problem is None:
            return
        self.feedback = self.problem.check({n: f.value for n, f in self.fields.items()})
        lines = []
        for v in self.feedback.verdicts:
            colour = "green" if v.right else "#b00"
            lines.append(f"<div style='color:{colour}'>{_pre(str(v))}</div>")
        right, total = self.feedback.score
        self.result.value = "".join(lines) + f"<b>{right}/{total} right.</b>"
        self.a11y.announce(f"{right} of {total} right.")

    def show_solution(self) -> None:
        """The Show solution button."""
        if self.problem is not None:
            self.solution.value = _pre(self.problem.solution())

    @property
    def feedback_text(self) -> str:
        return "" if self.feedback is None else str(self.feedback)

    def _repr_mimebundle_(self, **kwargs):
        from .widgets import display_bundle

        return display_bundle(self.widget, repr(self), **kwargs)

    def __repr__(self) -> str:
        return f"ExerciseWidget({self.problem.title() if self.problem else self.error})"

    # ---- building ------------------------------------------------------------------------------

    def _build(self, seed, difficulty, kind) -> None:
        self.seed = W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed",
                                     layout=W.Layout(width="14em"))
        levels = [(f"{d}: {words}", d) for d, words in DIFFICULTIES.items()]
        self.difficulty = W.Dropdown(options=levels, value=difficulty, description="difficulty",
                                     layout=W.Layout(width=fit_width(label for label, _ in levels)))
        kinds = [(ANY, ANY)] + [(f"{k}: {q}", k) for k, q in KINDS.items()]
        self.kind = W.Dropdown(options=kinds, value=kind or ANY, description="kind",
                               layout=W.Layout(width=fit_width(label for label, _ in kinds)))
        self.new_button = W.Button(description="New problem", tooltip="the next seed")
        self.random_button = W.Button(description="Random problems", tooltip="leave this fixed problem for "
                                      "seeded random ones (seed, difficulty, kind)")
        self.check_button = W.Button(description="Check", button_style="primary")
        self.solution_button = W.Button(description="Show solution")
        self.title, self.text, self.result, self.solution = W.HTML(), W.HTML(), W.HTML(), W.HTML()
        self.message = W.HTML()
        self.form = W.VBox()
        self.fields = {}
        for control in (self.seed, self.difficulty, self.kind):
            control.observe(lambda change: self._load(), names="value")
        self.new_button.on_click(lambda _: self.new_problem())
        self.random_button.on_click(lambda _: self.random_problems())
        self.check_button.on_click(lambda _: self.check())
        self.solution_button.on_click(lambda _: self.show_solution())
        no_null_titles([self.seed, self.difficulty, self.kind])
        self.random_box = W.VBox([W.HBox([self.seed, self.new_button]), self.difficulty, self.kind])
        # pagemove.a11y: a named region whose keys stay with its controls in JupyterLab, and a live region
        self.a11y = Accessibility(label="pagemove exercise")
        self.widget = self.a11y.around([self.random_box, self.random_button, self.message, self.title, self.text,
                                        self.form, W.HBox([self.check_button, self.solution_button]), self.result,
                                        self.solution])

    def _random_controls(self, random: bool) -> None:
        """Show the seed, difficulty, kind and New problem (random problems) or hide them (a fixed problem);
        hidden controls are disabled too, so nothing can replace the fixed problem by accident."""
        self.random_box.layout.display = None if random else "none"
        self.random_button.layout.display = "none" if random else None
        for control in (self.seed, self.difficulty, self.kind, self.new_button):
            control.disabled = not random

    def _load(self) -> None:
        """Show the problem the seed, difficulty and kind controls name."""
        if self.fixed:
            return
        kind = None if self.kind.value == ANY else self.kind.value
        try:
            problem = Problem.random(self.seed.value, kind=kind, difficulty=self.difficulty.value)
        except (ValueError, OSError, RuntimeError) as e:
            self._fail(str(e))
            return
        self.message.value = ""
        self.show(problem)

    def _fail(self, reason: str) -> None:
        self.error = reason
        self.message.value = f"<span style='color:#b00'>{html.escape(reason)}</span>"
        self.a11y.announce(reason)


def _field(item):
    """The input widget for one answer item."""
    style = {"description_width": "24em"}
    layout = W.Layout(width="46em")
    common = dict(value="", description=item.label, tooltip="", style=style, layout=layout)  # tooltip: no title="null"
    if item.type == "bool":
        return W.Dropdown(options=YES_NO, **common)
    if item.type == "choice":
        return W.Dropdown(options=[("", "")] + [(words, key) for key, words in REASONS.items()], **common)
    hint = {"addresses": "e.g. 0x1e00000, 0x2000000 (or none)"}.get(item.type, ACCEPTED)
    return W.Text(placeholder=hint, **common)


def _pre(text: str) -> str:
    return f"<pre style='margin:0; white-space:pre-wrap'>{html.escape(text)}</pre>"
