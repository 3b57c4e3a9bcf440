"""pagemove.ahead: the explorer keeps what it simulated and drew, and draws the likely next pictures while idle."""

import asyncio

import pytest

from pagemove.ahead import Ahead, Kept

widgets = pytest.importorskip("pagemove.widgets")
pytest.importorskip("matplotlib")


def test_kept_makes_each_value_once_and_drops_the_least_recently_used():
    made = []
    kept = Kept(2)
    for key in "abab":
        kept.get(key, lambda k=key: made.append(k) or k.upper())
    assert made == ["a", "b"]
    kept.get("a")           # a is now the most recently used
    kept.get("c", lambda: "C")
    assert list(kept) == ["a", "c"] and kept.get("b") is None
    nothing = Kept(0)
    assert nothing.get("x", lambda: 1) == 1 and not nothing


def test_ahead_without_an_event_loop_does_nothing():
    ran = []
    assert Ahead().plan([lambda: ran.append(1)]) is False
    assert ran == []


def test_ahead_runs_the_last_plan_only_and_one_job_at_a_time():
    ran = []

    async def scenario():
        ahead = Ahead(delay=0.01)
        ahead.plan([lambda: ran.append("old")])
        ahead.plan([lambda: ran.append(1), lambda: ran.append(2)])  # replaces the first plan
        await asyncio.sleep(0.2)
        assert ahead.done == 2

    asyncio.run(scenario())
    assert ran == [1, 2]


def count_drawings(ex):
    drawn = []
    original = ex._draw

    def spy(result, step, px):
        drawn.append((result.kernel, step))
        return original(result, step, px)

    ex._draw = spy
    return drawn


def test_a_flip_back_neither_simulates_nor_draws_again(monkeypatch):
    ex = widgets.MoveExplorer(preset="c-overlap")
    ex.set(kernel="6.7")
    drawn = count_drawings(ex)
    monkeypatch.setattr(widgets, "simulate", lambda *a, **k: pytest.fail("simulated a kept move again"))
    ex.set(kernel="6.6")
    assert drawn == [] and ex.result.kernel == "6.6" and "refusals: 1" in ex.summary
    ex.close()


def test_while_idle_the_explorer_draws_the_other_kernel_and_the_steps_beside_this_one():
    async def scenario():
        ex = widgets.MoveExplorer(preset="c-overlap")  # 6.6, two steps, showing the last
        ex._ahead.delay = 0.01
        ex.set(step=1)                                  # plans: 6.7's picture, step 0, step 2 (shown before)
        drawn = count_drawings(ex)
        await asyncio.sleep(0.5)
        assert ("6.7", None) in drawn and ("6.6", 0) in drawn
        drawn.clear()
        ex.set(kernel="6.7")                            # now a lookup: nothing is simulated or drawn
        ex.set(step=0)
        assert [d for d in drawn if d[0] == "6.7" and d[1] is None] == []
        assert ex.result.realigned and not ex.error
        ex.close()

    asyncio.run(scenario())
