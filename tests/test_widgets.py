"""The explorer without a browser: ipywidgets runs on comm's DummyComm, observers fire synchronously.

Every test drives the explorer the two ways a learner's actions arrive: ex.set(...) and writing a
widget's .value (what dragging a slider, typing in a box or clicking a button does).
"""

import gc
import html
import io
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pagemove import text  # noqa: E402
from pagemove.numbers import ACCEPTED  # noqa: E402
from pagemove.presets import PRESETS  # noqa: E402
from pagemove.scenario import GEOMETRIES as ENGINE_GEOMETRIES  # noqa: E402
from pagemove.scenario import geometry_of  # noqa: E402
from pagemove.widgets import THP_LABEL, MoveExplorer  # noqa: E402


@pytest.fixture
def ex():
    explorer = MoveExplorer()  # case (c) with overlap on 6.6
    yield explorer
    explorer.close()


def test_import_pagemove_loads_neither_ipywidgets_nor_matplotlib():
    code = "import sys, pagemove, pagemove.presets; print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_importing_the_widget_module_does_not_load_matplotlib():
    code = "import sys, pagemove.widgets; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


# ---- the default case and the kernel toggle ---------------------------------------------------------

def test_default_is_c_overlap_on_6_6_with_the_warn(ex):
    assert ex.preset.value == "c-overlap" and ex.error == ""
    assert "moves: 0 PUD, 0 PMD, 513 PTE; refusals: 1" in ex.summary
    assert "realign" not in ex.summary  # 6.6 has no realignment: the summary says only what is particular
    assert "WARNING:" in ex.summary and "move_normal_pmd" in ex.summary
    assert (ex.step, ex.steps) == (2, 2)
    assert ex.sentence.startswith("Step 2: PMD move refused")  # steps count from 1, as everywhere
    assert "the destination PMD entry still holds the table emptied at step 1" in ex.sentence
    assert bytes(ex.image.value).startswith(b"\x89PNG")
    assert "WARN" in ex.step_line.value and "513 PTE" in ex.summary_box.value


def test_kernel_67_via_set_and_via_the_button_agree(ex):
    ex.set(kernel="6.7")
    by_set = ex.summary
    assert "moves: 0 PUD, 2 PMD, 0 PTE; refusals: 0" in by_set
    assert "realigned: the loop starts at 0x000001e00000 -> 0x000001c00000" in by_set
    assert "WARNING" not in by_set
    ex.kernel.value = "6.6"
    assert "refusals: 1" in ex.summary
    ex.kernel.value = "6.7"  # the button
    assert ex.summary == by_set and ex.preset.value == "c-overlap"  # a kernel flip keeps the case


def test_constructor_values_override_the_preset():
    ex = MoveExplorer(old=0x20000000, new=0x30001000, length=0x400000, kernel="6.7", stack=False)
    assert ex.error == "" and ex.preset.value == ""  # custom
    assert "1024 PTE" in ex.summary and ex.steps == 4
    assert ex.texts["new"].value == "0x30001000"
    ex2 = MoveExplorer(preset="cascade", kernel="6.7")
    assert ex2.preset.value == "cascade" and "4 PMD" in ex2.summary


# ---- text boxes and sliders stay in sync ----------------------------------------------------------------

def test_dragging_the_old_slider_updates_the_box_and_the_move(ex):
    ex.set(preset="c")
    ex.sliders["old"].value = ex.sliders["old"].value + 1  # one page up: old = 0x2000000, PMD-aligned
    assert ex.texts["old"].value == "0x2000000"
    assert ex.values["old"] == 0x2000000 and ex.preset.value == ""
    assert ex.error == "" and ex.result.old_addr == 0x2000000
    assert "moves: 0 PUD, 0 PMD, 513 PTE" in ex.summary  # old aligned, new not: page by page


def test_typing_in_the_box_moves_the_slider(ex):
    ex.texts["new"].value = "0x30001000"  # typed and confirmed
    ex.set(stack=False, old=0x20000000, length="0x400000")
    assert ex.sliders["new"].value == 0x30001000 // 0x1000
    assert ex.sliders["old"].value == 0x20000000 // 0x1000
    assert ex.sliders["length"].value == 0x400 and ex.texts["length"].value == "0x400000"
    assert ex.error == "" and "1024 PTE" in ex.summary


def test_length_slider_in_pages(ex):
    ex.set(preset="tiny-a")
    ex.sliders["length"].value = 15  # 0xf000: one whole PMD, then 7 pages
    assert ex.texts["length"].value == "0xf000" and ex.result.length == 0xf000
    assert ex.error == "" and "moves: 0 PUD, 1 PMD, 7 PTE" in ex.summary


def test_a_slider_window_follows_a_value_typed_far_away(ex):
    ex.set(stack=False, old=0x7f0000000000, new=0x7e0000000000, length=0x200000)
    s = ex.sliders["old"]
    assert s.min <= 0x7f0000000000 // 0x1000 <= s.max and s.value == 0x7f0000000000 // 0x1000
    assert ex.error == "" and "1 PMD" in ex.summary


def test_the_slider_window_stays_under_the_mouse_and_recentres_on_typing(ex):
    s = ex.sliders["old"]
    window = (s.min, s.max)
    assert s.min < s.value < s.max  # the preset's value is inside, not pinned to an edge
    s.value = s.min + 2048  # a drag: old = 4 PMDs above the window start (0x800000), PMD-aligned
    assert (s.min, s.max) == window and ex.texts["old"].value == "0x800000"
    ex.texts["old"].value = "0x40000000"  # typed: the window moves to the new value
    assert s.min <= 0x40000 <= s.max and (s.min, s.max) != window


# ---- mode, geometry, presets ---------------------------------------------------------------------------

def test_mode_by_name_in_set(ex):
    ex.set(mode="mremap", new=0x0fff000)
    assert ex.error == "" and ex.result.operation == "mremap"
    ex.set(mode="execve stack shift", new=0x1dff000)
    assert ex.error == "" and ex.result.operation == "relocate_vma_down"


def test_mode_toggle_switches_between_mremap_and_the_stack_shift(ex):
    ex.mode.value = False  # mremap: the ranges overlap, which mremap refuses
    assert "overlap" in ex.error and "EINVAL" in ex.error
    ex.mode.value = True
    assert ex.error == "" and ex.result.operation == "relocate_vma_down"


def test_geometry_toggle_goes_to_the_same_case_scaled_down(ex):
    ex.set(kernel="6.7")
    ex.geometry.value = "tiny"
    assert ex.preset.value == "tiny-c-overlap" and ex.values["kernel"] == "6.7"
    assert ex.texts["old"].value == "0x27000" and "2 PMD" in ex.summary and "tiny" in ex.summary
    ex.set(geometry="x86_64")
    assert ex.preset.value == "c-overlap" and ex.texts["old"].value == "0x1fff000"


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_through_the_dropdown(ex, name):
    ex.preset.value = name
    p = PRESETS[name]
    want = p.run()
    assert ex.error == "" and ex.result.counts == want.counts and ex.result.realigned == want.realigned
    assert ex.values == {**p.values}
    assert ex.steps == len(want.events) and ex.step == ex.steps
    assert html.escape(p.title) in ex.about.value


def test_preset_blockers_stay_for_a_kernel_flip_and_go_with_a_layout_change(ex):
    ex.set(preset="c-guard")
    assert "not realigned: cannot align old down" in ex.summary
    ex.set(kernel="6.6")
    ex.set(kernel="6.7")
    assert "cannot align old down" in ex.summary  # the blocker is still mapped
    ex.set(length=0x202000)  # the learner edits the layout: a custom move, without the preset's blocker
    assert ex.preset.value == "" and "realigned: the loop starts" in ex.summary


# ---- the step slider --------------------------------------------------------------------------------

def test_step_slider_replays_the_move(ex):
    r = ex.result
    ex.step_slider.value = 0
    assert ex.step == 0 and ex.sentence.startswith("Before the loop: nothing moved yet; 2 steps")
    ex.step_slider.value = 1
    assert ex.sentence == r.events[0].describe() and ex.sentence.startswith("Step 1: ")
    assert "move_ptes() moved 1 present PTE" in ex.sentence
    assert ex.step_slider.description == "after step" and ex.step_total.value == "of 2"
    ex.set(step=2)
    assert ex.sentence == r.events[1].describe() and ex.result is r  # replay does not re-simulate


def test_step_resets_to_the_end_on_a_new_move(ex):
    ex.set(step=0)
    ex.set(preset="cascade")
    assert (ex.step, ex.steps, ex.step_slider.max) == (4, 4, 4)


def test_before_the_loop_mentions_the_realignment(ex):
    ex.set(kernel="6.7", step=0)
    assert "Realigned: nothing is mapped below old or new" in ex.sentence


# ---- bad input: the reason in the widget, the last good picture stays -----------------------------------

BAD = [
    (dict(old="zz"), "old: 'zz' is not a number"),
    (dict(new="0x1dff00g"), "new: '0x1dff00g' is not a number"),
    (dict(old="abc"), "old: 'abc' is not a number (hex needs its prefix: 0xabc)"),
    (dict(old="1fff000"), "old: '1fff000' is not a number (hex needs its prefix: 0x1fff000)"),
    (dict(old=""), "old: the box is empty"),
    (dict(old=0x1fff001), "not page aligned"),
    (dict(stack=False, new=0x1fff000 - 0x1000), "overlap"),  # mremap ranges overlap
    (dict(old=0x7ffffffff000), "TASK_SIZE"),  # old + len past the top of user space
    (dict(length=1 << 48), "TASK_SIZE"),  # longer than the address space
    (dict(length=0), "length is zero"),
    (dict(new=0x2000000), "only goes down"),  # the stack shift moves down
    (dict(kernel="6.18"), "'6.18' is not one of '6.6', '6.7'"),
    (dict(geometry="sparc"), "'sparc' is not one of"),
    (dict(step=1.5), "step must be an int"),
    (dict(old=1.5), "old must be an int (or a string such as 0x1fff000 or 2M)"),
    (dict(speed=3), "unknown control(s): speed"),
    (dict(mode="fork"), "stack: must be True (execve stack shift) or False (mremap), got 'fork'"),
    (dict(length="0x2g"), "len: '0x2g' is not a number"),
]


@pytest.mark.parametrize("values, reason", BAD, ids=[str(v) for v, _ in BAD])
def test_bad_input_shows_the_reason_and_keeps_the_last_good_move(ex, capsys, values, reason):
    good, picture, summary = ex.result, bytes(ex.image.value), ex.summary
    ex.set(**values)
    assert reason in ex.error
    assert html.escape(reason) in ex.error_line.value and "Cannot move" in ex.error_line.value
    assert ex.result is good and bytes(ex.image.value) == picture and ex.summary == summary
    out, err = capsys.readouterr()
    assert out == "" and err == ""  # no traceback, no print


def test_typing_garbage_into_the_box_then_fixing_it(ex):
    ex.texts["length"].value = "0x20100O"  # a letter O
    assert "len: '0x20100O' is not a number" in ex.error
    ex.texts["length"].value = "0x201000"
    assert ex.error == "" and ex.error_line.value == ""


def test_an_unparsed_box_blocks_every_later_move_until_it_is_fixed(ex):
    good = bytes(ex.image.value)
    ex.set(old="oops")
    ex.set(kernel="6.7")  # another control: still nothing simulates with an older value of old
    assert "old: 'oops' is not a number" in ex.error and ex.texts["old"].value == "oops"
    assert ex.result.kernel == "6.6" and bytes(ex.image.value) == good
    ex.texts["old"].value = "0x1fff000"
    assert ex.error == "" and ex.result.kernel == "6.7" and "realigned" in ex.summary


def test_bad_constructor_values_show_an_error_without_raising():
    ex = MoveExplorer(old=0x1fff001)
    assert "not page aligned" in ex.error and "Cannot move" in ex.error_line.value


# ---- display and memory --------------------------------------------------------------------------------

def test_displaying_shows_the_widget_with_a_short_text_repr(ex):
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == repr(ex)
    assert repr(ex) == "MoveExplorer(c-overlap: stack 0x1fff000 -> 0x1dff000 len 0x201000, Linux 6.6, x86_64, step 2/2)"


def test_all_sliders_update_on_release_only(ex):
    sliders = [*ex.sliders.values(), ex.step_slider]
    assert all(s.continuous_update is False for s in sliders)
    assert all(t.continuous_update is False for t in ex.texts.values())


def live_figures() -> int:
    gc.collect()
    return sum(isinstance(o, Figure) for o in gc.get_objects())


def test_pictures_are_deterministic_and_flipping_back_reuses_them(ex):
    first = bytes(ex.image.value)
    ex.set(kernel="6.7")
    fixed = bytes(ex.image.value)
    assert fixed != first
    ex.set(kernel="6.6")
    assert bytes(ex.image.value) == first
    fresh = MoveExplorer(preset="c-overlap", kernel="6.7", cache_size=0)  # drawn anew, not from a cache
    assert bytes(fresh.image.value) == fixed
    fresh.close()


def test_figures_do_not_leak_over_50_updates():
    ex = MoveExplorer(preset="tiny-c-overlap", cache_size=0)  # no cache: every update draws
    ex.set(step=1)  # the explorer's one figure exists now
    pyplot_before, live_before = len(plt.get_fignums()), live_figures()
    for i in range(50):
        ex.set(kernel=("6.6", "6.7")[i % 2], length=0x9000 + 0x1000 * (i % 7), step=i % 3)
        assert ex.error == ""
    assert len(plt.get_fignums()) == pyplot_before
    assert live_figures() <= live_before
    assert not ex._pngs
    ex.close()


def test_the_picture_cache_is_bounded():
    ex = MoveExplorer(preset="tiny-c-overlap", cache_size=3)
    for i in range(6):
        ex.set(length=0x9000 + 0x1000 * i)
    assert ex.error == "" and len(ex._pngs) == 3
    ex.close()


# ---- one number grammar in the boxes (issue 10, item 1) ---------------------------------------------------

@pytest.mark.parametrize("typed, value", [("4096", 0x1000), ("0x1000", 0x1000), ("4K", 0x1000), ("2M+4K", 0x201000),
                                          ("2MiB + 4KiB", 0x201000), ("2101248", 0x201000)])
def test_a_box_reads_hex_decimal_sizes_and_sums(ex, typed, value):
    ex.set(preset="c")
    ex.texts["length"].value = typed  # typed and confirmed (Enter or Tab)
    assert ex.error == "" and ex.values["length"] == value and ex.result.length == value
    assert ex.texts["length"].value == f"{value:#x}"  # the box then shows the value it uses, in hex


def test_set_with_strings_is_typing_into_the_boxes():
    typed = MoveExplorer(preset="c")
    typed.texts["old"].value, typed.texts["new"].value = "32M", "16M"
    by_set = MoveExplorer(preset="c")
    by_set.set(old="32M", new="0x1000000")
    assert typed.values == by_set.values and typed.values["old"] == 0x2000000 and typed.values["new"] == 0x1000000
    assert typed.summary == by_set.summary and typed.error == by_set.error == ""
    built = MoveExplorer(old="0x20000000", new="768M", length="4M", stack=False)
    assert built.values["new"] == 0x30000000 and built.values["length"] == 0x400000 and built.error == ""


@pytest.mark.parametrize("typed", ["abc", "1fff000", "4096x", "0x", "2M+-4K", "1.5M"])
def test_anything_else_names_the_box_and_the_accepted_forms(ex, typed):
    ex.texts["new"].value = typed
    assert ex.error.startswith(f"new: {typed!r} is not a number")
    assert "hex 0x1fff000, decimal 4096, or a size 4K 2M 1G (sums like 2M+4K too)" in ex.error
    assert "0xabc" not in ex.error.split("prefix: ")[0]  # never read as hex behind the learner's back


# ---- no hidden state (item 2) ---------------------------------------------------------------------------

def test_the_reviewers_sequence_never_names_a_value_that_is_not_on_screen(ex):
    good_picture, good_summary = bytes(ex.image.value), ex.summary
    ex.texts["old"].value = "abc"  # + Enter
    assert "old: 'abc' is not a number" in ex.error
    ex.texts["old"].value = ""  # cleared
    assert ex.error.startswith("old: the box is empty") and "abc" not in ex.error
    ex.texts["length"].value = "0"  # a later edit elsewhere: still about old, never a stale value of it
    assert ex.error.startswith("old: the box is empty") and "0xabc" not in ex.error
    assert ex.values["old"] == "" and ex.values["length"] == 0
    shown = {t.value for t in ex.texts.values()}
    assert shown == {"", "0x1dff000", "0x0"}  # what the boxes show is what the values are
    # The last good picture stays, marked as not current; the summary says it is the last good move.
    assert bytes(ex.image.value) == good_picture and ex.summary == good_summary and not ex.current
    assert ex.image.layout.border and "dashed" in ex.image.layout.border
    assert "not the boxes' values" in ex.summary_box.value and "dashed border" in ex.error_line.value
    ex.texts["old"].value = "0x1fff000"  # fixing old: now length 0 is the problem, named as such
    assert "length is zero" in ex.error
    ex.texts["length"].value = "2M+4K"
    assert ex.error == "" and ex.current and ex.image.layout.border is None
    assert ex.summary == good_summary and "not the boxes' values" not in ex.summary_box.value


def test_two_broken_boxes_are_both_named(ex):
    ex.set(old="zz", new="yy")
    assert "old: 'zz' is not a number" in ex.error and "new: 'yy' is not a number" in ex.error
    ex.set(new="0x1dff000")
    assert "old: 'zz'" in ex.error and "yy" not in ex.error


def test_a_slider_mends_a_broken_box(ex):
    ex.texts["old"].value = "oops"
    s = ex.sliders["old"]
    s.value = s.value + 1  # dragging the page slider of that row: the box shows the slider's value
    assert ex.error == "" or "oops" not in ex.error
    assert ex.texts["old"].value == f"{ex.values['old']:#x}"


def test_the_boxes_say_they_apply_on_enter_or_tab(ex):
    assert "applies on Enter or Tab" in ex.hint.value and ex.hint in ex._all_widgets()
    assert all(t.placeholder for t in ex.texts.values())
    assert [t.description for t in ex.texts.values()] == ["old", "new", "len"]


# ---- geometry and mode switches (item 3) ------------------------------------------------------------------

def pmd_units(value: int, geo) -> tuple[int, int]:
    """(PMD number, page offset inside the PMD)."""
    return value // geo.pmd_size, value % geo.pmd_size // geo.page_size


def custom_move(geo) -> dict:
    """A custom mremap in `geo`: old one page below a PMD boundary, new too, 3 PMDs and a page long."""
    pmd, ps = geo.pmd_size, geo.page_size
    return dict(old=8 * pmd - ps, new=16 * pmd - ps, length=3 * pmd + ps)


def slider_is_centred(ex, name) -> bool:
    s = ex.sliders[name]
    return s.min < s.value < s.max if name != "length" else s.min <= s.value < s.max


@pytest.mark.parametrize("src", list(ENGINE_GEOMETRIES))
@pytest.mark.parametrize("dst", list(ENGINE_GEOMETRIES))
def test_a_custom_move_carries_over_to_every_geometry_in_pmd_units(src, dst):
    """Every geometry the engine offers (scenario.GEOMETRIES), both ways, through the real toggle buttons."""
    a, b = geometry_of(src), geometry_of(dst)
    ex = MoveExplorer(preset="c", kernel="6.6")
    ex.set(geometry=src, stack=False, **custom_move(a))
    assert ex.error == "" and ex.preset.value == ""
    if src != dst:
        ex.geometry.value = dst  # the click
    assert ex.error == "" and ex.result.geometry.name == b.name
    v, per_pmd = ex.values, b.pmd_size // b.page_size
    assert pmd_units(v["old"], b)[1] == pmd_units(v["new"], b)[1] == per_pmd - 1  # one page below a boundary
    assert pmd_units(v["new"], b)[0] - pmd_units(v["old"], b)[0] == 8  # the same distance in PMDs
    assert divmod(v["length"], b.pmd_size) == (3, b.page_size)  # 3 PMDs and a page
    assert all(slider_is_centred(ex, n) for n in ("old", "new", "length"))
    ex.geometry.value = src  # and back: the very same move
    assert ex.values == {**ex.values, **custom_move(a)} and ex.error == ""
    ex.close()


def test_a_preset_with_a_twin_switches_to_the_twin(ex):
    ex.geometry.value = "tiny"
    assert ex.preset.value == "tiny-c-overlap" and ex.error == ""


@pytest.mark.parametrize("geometry", [g for g in ENGINE_GEOMETRIES if g not in ("x86_64", "tiny")] or ["tiny"])
def test_a_preset_without_a_twin_carries_over_with_its_blockers(geometry):
    ex = MoveExplorer(preset="c-guard")  # a blocker one page wide at the PMD boundary below old
    ex.set(geometry=geometry)
    g = geometry_of(geometry)
    assert ex.error == ""
    if ex.preset.value == "":  # no twin: carried over, and the blocker with it
        assert ex._blockers and pmd_units(ex._blockers[0][0], g)[1] == 0
        assert "cannot align old down" in ex.summary
    ex.close()


def test_a_mode_switch_recentres_the_sliders(ex):
    ex.set(preset="c")
    ex.sliders["old"].value = ex.sliders["old"].max  # dragged to the end of its window
    ex.mode.value = True  # the execve stack shift
    assert slider_is_centred(ex, "old") and slider_is_centred(ex, "new")


# ---- steps numbered one way (item 4) ------------------------------------------------------------------

@pytest.mark.parametrize("preset", ["c-overlap", "tiny-cascade", "linus"])
def test_the_slider_the_sentence_the_figure_and_the_trace_agree_on_step_numbers(preset):
    from pagemove import plot

    ex = MoveExplorer(preset=preset, cache_size=0)
    r, n = ex.result, ex.steps
    rows = [line.split()[0] for line in text.trace(r).splitlines()[2:]
            if not line.startswith(" " * 6)]  # a long "why this path" continues, indented, on the next line
    assert rows == [str(k) for k in range(1, n + 1)]
    for k in range(n + 1):
        ex.step_slider.value = k
        title = ex._fig.axes[1]._pagemove_title  # stamped into the PNG: the panel records it
        if k == 0:
            assert ex.sentence.startswith("Before the loop") and title == plot.step_title(0, n)
        else:
            assert ex.sentence.startswith(f"Step {k}: ") and ex.sentence == r.events[k - 1].describe()
            assert title == (f"after step {k} of {n}" if k < n else "after the loop")
        assert ex.step_total.value == f"of {n}"
    for e in r.events:
        if e.refused:
            assert f"refused at step {e.number}:" in ex.summary
    ex.close()


def test_the_case_dropdown_is_wide_enough_for_its_longest_choice(ex):
    longest = max(len(label) for label, _ in ex.preset.options)
    assert f"{longest}ch" in ex.preset.layout.width


# ---- the presenter layout (item 5) -------------------------------------------------------------------

def test_presenter_layout_puts_the_picture_beside_the_controls():
    ex = MoveExplorer(preset="c-overlap", presenter=True)
    from PIL import Image

    w, h = Image.open(io.BytesIO(ex.image.value)).size
    assert ex.image.layout.width == f"{w}px" and w == 590 and h <= 460  # drawn at the size it is shown
    main = next(c for c in ex.widget.children if isinstance(c, ipywidgets.HBox))
    assert isinstance(main, ipywidgets.HBox) and ex.picture in main.children[1].children and ex.image in ex.picture.children
    assert "font-family" in ex.summary_box.value and "white-space:pre-wrap" in ex.summary_box.value
    ex.close()


# ---- every geometry and the THP switch (issue 11) -------------------------------------------------------

def test_every_geometry_is_offered_by_name(ex):
    from pagemove.scenario import GEOMETRIES

    assert [v for _, v in ex.geometry.options] == list(GEOMETRIES)
    assert ("i386 PAE", "i386_pae") in ex.geometry.options and ("arm64 64K", "arm64_64k") in ex.geometry.options
    ex.set(geometry="arm64_64k")  # c-overlap has an arm64 64K twin: the same case, scaled to 512 MiB PMDs
    assert ex.error == "" and ex.preset.value == "arm64_64k-c-overlap"
    assert (ex.result.geometry.name, ex.result.pte_moves, ex.result.refusals) == ("arm64_64k", 8193, 1)
    ex.set(geometry="x86_64_5level", old="0x20000000000000", new="0x10000000000000", length="4M")  # above 2**47
    assert ex.error == "" and ex.result.pmd_moves == 2 and ex.result.geometry.levels == 5


def test_thp_switch(ex):
    ex.thp.value = True  # a click, on the execve stack shift: that stack never has huge pages
    assert "vma_is_temporary_stack" in ex.error and "THP" in repr(ex)
    ex.set(preset="c", thp=True)
    assert ex.error == "" and (ex.result.pte_moves, ex.result.huge_pmd_moves) == (1, 1)
    ex.set(kernel="6.7")
    assert (ex.result.pmd_moves, ex.result.huge_pmd_moves) == (1, 1)
    ex.set(preset="thp-b")
    assert ex.thp.value and ex.result.huge_pmd_splits == 2
    ex.set(thp=False)
    assert ex.result.huge_pmd_splits == 0 and ex.result.pte_moves == 1024
    ex.set(thp="yes")  # not a bool: shown in the widget, nothing raised
    assert "thp" in ex.error


def test_a_move_too_big_for_a_geometry_says_so_and_comes_back_whole():
    """1 GiB page-wise cannot fit the tiny machine (16 MiB): the error names what the boxes show, and the
    switch back restores the very same move."""
    g = 1 << 30
    ex = MoveExplorer(old=5 * g + 0x1000, new=9 * g + 0x3000, length=g, kernel="6.6", stack=False)
    before = ex.values
    ex.geometry.value = "tiny"
    assert "TASK_SIZE" in ex.error and ex.texts["old"].value in ex.error
    ex.geometry.value = "x86_64"
    assert ex.error == "" and ex.values == before
    ex.close()


def test_a_high_move_is_shifted_down_to_fit_keeping_its_distance_in_pmds():
    ex = MoveExplorer(old=0x7f0000000000 + 0x1ff000, new=0x7f0000400000 + 0x1ff000, length=0x201000, stack=False)
    ex.geometry.value = "tiny"
    tiny = geometry_of("tiny")
    v = ex.values
    assert ex.error == ""
    assert (v["new"] - v["old"]) == 2 * tiny.pmd_size and pmd_units(v["old"], tiny)[1] == 7
    ex.close()


def test_the_png_cache_never_shows_a_picture_of_other_controls():
    """A picture cached while a broken box kept the last good move on screen is keyed by that move's own
    values, so the THP move the boxes come back to is drawn anew, with its huge pages."""
    ex = MoveExplorer(old=0x7f0000200000, new=0x7f0040400000, length=0x600000, kernel="6.7", stack=False)
    ex.set(new="zzz")
    ex.set(thp=True)
    ex.set(step=1)  # draws the last good (base-page) move, at step 1
    plain = ex.image.value
    ex.set(new=0x7f0040400000)
    assert ex.error == "" and ex.result.huge_pmd_moves == 3
    ex.set(step=1)
    assert ex.image.value != plain
    ex.close()


# ---- messages (issue 19, item 5) ------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["-4096", "-4K", "-0x1000", "-2M+4K"])
def test_a_negative_number_is_called_negative(ex, typed):
    ex.texts["new"].value = typed
    assert ex.error.startswith(f"new: {typed!r} is negative;"), ex.error
    assert "not a number" not in ex.error


def test_two_broken_boxes_name_both_and_print_the_accepted_forms_once(ex):
    ex.set(old="-4096", new="abc")
    assert "old: '-4096' is negative" in ex.error and "new: 'abc' is not a number" in ex.error
    assert ex.error.count(ACCEPTED) == 1, ex.error
    assert ex.error_line.value.count("decimal 4096") == 1


def test_choosing_custom_drops_the_old_cases_description():
    ex = MoveExplorer(preset="cascade")
    title = PRESETS["cascade"].title
    assert html.escape(title) in ex.about.value
    before = ex.summary
    ex.preset.value = ""  # the dropdown's "custom"
    assert html.escape(title) not in ex.about.value and "Custom move" in ex.about.value
    assert ex.summary == before and not ex.error  # the move itself stays


def test_thp_in_stack_mode_says_what_to_do_in_the_widget(ex):
    ex.set(thp=True)
    assert ex.values["stack"] and "huge_stack" not in ex.error, ex.error
    assert f"untick {THP_LABEL}, or choose mode mremap" in ex.error
    ex.set(thp=False)  # what the message says works
    assert not ex.error


def test_the_minus_one_in_the_flush_line_is_explained_beside_it(ex):
    ex.set(kernel="6.7")  # two whole PMD moves: two flushes of 512 pages, shown as -1
    flushes = ex.summary.split("TLB flushes: ")[1]
    assert "-1" in flushes.split("(")[0] and text.FLUSH_ALL_NOTE in " ".join(flushes.split())
    assert html.escape(text.FLUSH_ALL_NOTE) in " ".join(ex.summary_box.value.split())
    ex.set(kernel="6.6", step=0)  # one PTE flush and one refused PMD's 512 PTEs (-1): still explained
    assert text.FLUSH_ALL_NOTE in " ".join(ex.summary.split())
    ex.set(preset="tiny-a")  # a few pages per PMD: every flush under 33 pages, no -1 and no note
    assert "-1" not in ex.summary.split("TLB flushes: ")[1] and text.FLUSH_ALL_NOTE not in ex.summary


def test_no_described_control_leaves_its_tooltip_null():
    """ipywidgets 8 writes a missing tooltip as title="null" on the label."""
    for presenter in (False, True):
        ex = MoveExplorer(presenter=presenter)
        described = [w for w in ex._all_widgets() if getattr(w, "description", "")]
        assert len(described) >= 10
        assert all(w.tooltip is not None for w in described), [w.description for w in described if w.tooltip is None]


def _sends(monkeypatch):
    """Record every widget message: (widget, its state keys, whether it carries the picture), in order."""
    sent = []
    original = ipywidgets.Widget._send

    def spy(self, msg, buffers=None):
        if msg.get("method") == "update":
            sent.append((self, tuple(sorted(msg["state"]))))
        return original(self, msg, buffers)

    monkeypatch.setattr(ipywidgets.Widget, "_send", spy)
    return sent


def test_a_new_picture_is_the_first_message_and_the_rest_follow_on_the_event_loop(monkeypatch):
    """Answering the front end (a key press in the box), in a kernel with its event loop: the image goes out
    at once, every other widget's update FOLLOW_UP seconds later; nothing is lost."""
    import asyncio

    from pagemove import widgets

    ex = MoveExplorer(preset="c-overlap")
    length = ex.values["length"]
    sent = _sends(monkeypatch)
    monkeypatch.setattr(widgets, "_answering_the_front_end", lambda: True)

    async def type_a_length():
        ex.texts["length"].value = hex(length + 0x1000)  # as the front end's message would set it
        at_once = list(sent)
        await asyncio.sleep(widgets.FOLLOW_UP + 0.05)
        return at_once

    at_once = asyncio.run(type_a_length())
    widgets_at_once = [w for w, _ in at_once if w is not ex.texts["length"]]  # the box's own echo comes first
    assert widgets_at_once == [ex.image]  # the picture, and nothing else yet
    later = [w for w, _ in sent[len(at_once):]]
    assert ex.summary_box in later and ex.step_slider in later and ex.a11y in later and ex.image not in later
    assert ex.step_total.value == f"of {ex.steps}" and "0x202000" in ex.summary  # Python's side is current


@pytest.mark.parametrize("front_end", [False, True], ids=["a cell's code, with a loop", "front end, no loop"])
def test_a_cell_s_code_or_no_event_loop_sends_every_update_at_once(monkeypatch, front_end):
    """A cell's code (even with the kernel's loop running: nbconvert saves only what was sent before the cell
    ended), a script, a test: the held updates go when the change is handled, the picture still first."""
    import asyncio

    from pagemove import widgets

    ex = MoveExplorer(preset="c-overlap")
    sent = _sends(monkeypatch)
    monkeypatch.setattr(widgets, "_answering_the_front_end", lambda: front_end)

    async def in_a_cell():  # a loop runs, as in a kernel; only the front end's messages may wait
        ex.set(length=ex.values["length"] + 0x1000)

    if front_end:  # no loop at all: nothing can wait
        ex.set(length=ex.values["length"] + 0x1000)
    else:
        asyncio.run(in_a_cell())
    widgets_sent = [w for w, _ in sent]
    assert widgets_sent[0] is ex.image and ex.image not in widgets_sent[1:]
    assert ex.summary_box in widgets_sent and ex.step_slider in widgets_sent and ex.a11y in widgets_sent


@pytest.mark.parametrize("msg_type, answering", [("comm_msg", True), ("execute_request", False)])
def test_the_explorer_knows_a_front_end_message_from_a_cell(monkeypatch, msg_type, answering):
    """The kernel's parent message says which: a widget's comm_msg (a click, a key) or a cell's execute_request."""
    import IPython

    from pagemove import widgets

    class Kernel:
        def get_parent(self):
            return {"header": {"msg_type": msg_type}}

    monkeypatch.setattr(IPython, "get_ipython", lambda: type("Shell", (), {"kernel": Kernel()})())
    assert widgets._answering_the_front_end() is answering


def test_outside_a_kernel_nothing_is_a_front_end_message():
    from pagemove import widgets

    assert widgets._answering_the_front_end() is False  # pytest: no IPython shell at all
