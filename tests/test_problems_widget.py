"""The exercise widget, driven without a browser: set fields, click buttons, read what it shows."""

import pytest

pytest.importorskip("ipywidgets")

from pagemove.problems import Problem  # noqa: E402
from pagemove.problems_widget import ExerciseWidget  # noqa: E402


def test_shows_the_seeded_problem_and_its_seed():
    ex = ExerciseWidget(seed=4, difficulty=2)
    p = Problem.random(4, difficulty=2)
    assert ex.problem == p
    assert "seed 4, difficulty 2" in ex.title.value
    assert list(ex.fields) == [i.name for i in p.items]
    assert repr(ex) == f"ExerciseWidget({p.title()})"


def test_new_problem_button_takes_the_next_seed():
    ex = ExerciseWidget(seed=4, difficulty=2, kind="counts")
    ex.new_button.click()
    assert ex.seed.value == 5 and ex.problem == Problem.random(5, kind="counts", difficulty=2)
    ex.difficulty.value = 3
    assert ex.problem == Problem.random(5, kind="counts", difficulty=3)
    ex.kind.value = "any"
    assert ex.problem == Problem.random(5, difficulty=3)


def test_check_gives_per_item_feedback():
    e4 = Problem.fixed("counts", old=0x1fff000, new=0x1dff000, length=0x201000, stack=True)
    ex = ExerciseWidget(problem=e4)
    ex.answer(pmd_6_6="1", pte_6_6="513", refusals_6_6="1", pmd_6_7="0x2", pte_6_7="0", refusals_6_7="0")
    ex.check_button.click()
    assert ex.feedback.score == (5, 6)
    assert "[wrong] PMD moves on 6.6: 1 (answer: 0)" in ex.feedback_text
    assert "still holds the table emptied at step 1" in " ".join(ex.result.value.split())  # wrapped text
    assert "5/6 right." in ex.result.value
    ex.answer(pmd_6_6="0")
    ex.check()
    assert ex.feedback.right and "6/6 right." in ex.result.value


def test_choice_and_yes_no_fields():
    ex = ExerciseWidget(problem=Problem.fixed("realign", old=0x1fff000, new=0x0fff000, length=0x201000,
                                              blockers=[(0xe00000, 0x1000)]))
    ex.fields["realign"].value = "no"
    ex.fields["reason"].value = "below-new"
    ex.check()
    assert ex.feedback.right


def test_solution_button_and_bad_input_stay_inside_the_widget():
    ex = ExerciseWidget(seed=0)  # a counts problem: text fields
    assert ex.solution.value == ""
    ex.solution_button.click()
    assert "Step 1: " in ex.solution.value and "Step 0" not in ex.solution.value
    ex.answer(pmd_6_6="lots")
    ex.check()
    assert "PMD moves on 6.6: &#x27;lots&#x27; is not a number (answer: " in ex.result.value
    assert "(no answer)" not in ex.result.value.split("PTE moves")[0]
    ex.answer(nonsense=1)
    assert "no answer field 'nonsense'" in ex.error and "nonsense" in ex.message.value


def test_importing_pagemove_does_not_load_ipywidgets():
    import subprocess
    import sys
    code = "import sys, pagemove, pagemove.problems; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---- a fixed problem stays fixed; one message for an unreadable answer (issue 10, item 7) -------------------

def linus2():
    return Problem.fixed("counts", old=0x1fff000, new=0x1dff000, length=0x201000, stack=True)


def test_a_fixed_problem_hides_and_disables_the_random_controls():
    ex = ExerciseWidget(problem=linus2())
    assert ex.fixed and ex.random_box.layout.display == "none" and ex.random_button.layout.display is None
    assert all(c.disabled for c in (ex.seed, ex.difficulty, ex.kind, ex.new_button))
    ex.new_button.click()  # even a click that reaches it changes nothing
    ex.seed.value = 9
    ex.difficulty.value = 3
    assert ex.problem == linus2() and "fixed" in ex.title.value


def test_asking_for_random_problems_brings_the_controls_back():
    ex = ExerciseWidget(seed=4, difficulty=2, problem=linus2())
    ex.random_button.click()
    assert not ex.fixed and ex.random_box.layout.display is None and ex.random_button.layout.display == "none"
    assert not any(c.disabled for c in (ex.seed, ex.difficulty, ex.kind, ex.new_button))
    assert ex.problem == Problem.random(4, difficulty=2)
    ex.new_button.click()
    assert ex.problem == Problem.random(5, difficulty=2)


def test_a_random_problem_shows_its_controls():
    ex = ExerciseWidget(seed=1)
    assert not ex.fixed and ex.random_button.layout.display == "none"


def test_an_unreadable_answer_gets_one_clear_message():
    ex = ExerciseWidget(problem=linus2())
    ex.answer(pmd_6_6="zero")
    ex.check_button.click()
    line = str(ex.feedback["pmd_6.6"])
    assert line.startswith("[wrong] PMD moves on 6.6: 'zero' is not a number (answer: 0)")
    assert "(no answer)" not in line and "Could not read" not in line
    assert "Write hex 0x1fff000, decimal 4096, or a size 4K 2M 1G" in line


def test_answers_read_the_one_grammar():
    ex = ExerciseWidget(problem=linus2())
    ex.answer(pmd_6_6="0", pte_6_6="0x201", refusals_6_6="1", pmd_6_7="2", pte_6_7="0", refusals_6_7="0")
    ex.check()
    assert ex.feedback.right  # 0x201 is 513
    assert all(f.placeholder.startswith("hex 0x1fff000, decimal 4096") for f in ex.fields.values())


def test_the_dropdowns_are_wide_enough_for_their_longest_choice():
    ex = ExerciseWidget(seed=0)
    for dropdown in (ex.difficulty, ex.kind):
        longest = max(len(label) for label, _ in dropdown.options)
        assert f"{longest}ch" in dropdown.layout.width


def test_no_described_control_leaves_its_tooltip_null():
    """ipywidgets 8 writes a missing tooltip as title="null" on the label (issue 19)."""
    ex = ExerciseWidget(seed=0)
    controls = [ex.seed, ex.difficulty, ex.kind, *ex.fields.values()]
    assert all(w.description and w.tooltip is not None for w in controls)


def test_the_exercise_is_a_named_region_that_announces_its_feedback():
    from pagemove.a11y import ROOT_CLASS

    ex = ExerciseWidget(seed=0)
    assert ROOT_CLASS in ex.widget._dom_classes and ex.a11y in ex.widget.children
    ex.answer(**{name.replace(".", "_"): "1" for name in ex.fields})
    ex.check()
    right, total = ex.feedback.score
    assert ex.a11y.announcement == f"{right} of {total} right."
    ex.answer(nonsense="1")
    assert ex.a11y.announcement == ex.error and "no answer field" in ex.error
