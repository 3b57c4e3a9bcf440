"""pagemove.fit: the explorer draws its picture as wide as the space the front end measured, every label in
it stays at least 9 pixels, and the number boxes have room for the longest value any geometry produces.

The browser halves (JupyterLab at 1024x768 with the file browser open; Voila) are in test_browser_fit.py.
"""

import io

import pytest

from pagemove import fit, plot
from pagemove.scenario import GEOMETRIES

matplotlib = pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")
widgets = pytest.importorskip("pagemove.widgets")

SMALLEST_PX = 9  # on screen, for every label and legend entry (issue 19)


def size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def smallest_text_pt(draw) -> float:
    """The smallest font size (points) of any text drawn while draw() runs: by matplotlib (a figure's Text,
    the stamped strips and keys) or from pagemove's glyph cache (a for_png figure's titles and labels)."""
    from matplotlib.text import Text

    seen, original, glyphs = [], Text.draw, plot._text_image

    def spy(self, renderer):
        if self.get_visible() and self.get_text().strip():
            seen.append(self.get_fontsize())
        return original(self, renderer)

    def glyph_spy(text, font):
        if text.strip():
            seen.append(float(font.get("fontsize", 10)))
        return glyphs(text, font)

    plot._STAMPS.clear()
    plot._KEY.clear()  # cached stamps and keys would hide their text from the spies
    Text.draw, plot._text_image = spy, glyph_spy
    try:
        draw()
    finally:
        Text.draw, plot._text_image = original, glyphs
    assert seen, "nothing was drawn"
    return min(seen)


def test_number_boxes_fit_the_longest_value_of_every_geometry():
    longest = max(len(f"{g().task_size:#x}") for g in GEOMETRIES.values())  # a length can be all of TASK_SIZE
    assert fit.number_chars() == longest > len("0x7ffffffff000")  # 5-level x86-64 tops 4-level
    assert f"width: calc({longest + 1}ch + 12px)" in fit.stylesheet()
    assert "NUMBER_CHARS" not in fit.stylesheet()


def test_drawing_width_follows_the_measured_space_within_limits():
    assert fit.drawing_px(0, 900) == 900            # nothing measured yet: the designed size
    assert fit.drawing_px(587, 900) == 580          # rounded down: a few pixels reuse one drawing
    assert fit.drawing_px(1400, 900) == 900         # never wider than designed
    assert fit.drawing_px(300, 900) == fit.MIN_PX   # too narrow to read: scaled down instead


@pytest.mark.parametrize("presenter", [False, True])
def test_the_explorer_redraws_at_the_width_the_front_end_measured(presenter):
    ex = widgets.MoveExplorer(preset="c-overlap", presenter=presenter)
    designed = 590 if presenter else 900
    assert size(ex.image.value)[0] == designed and ex.image.layout.width == f"{designed}px"
    ex.probe.width = 563                            # what probe.js sends from a 563-pixel column
    assert size(ex.image.value)[0] == 560 and ex.image.layout.width == "560px"
    ex.set(kernel="6.7")                            # later updates keep the measured width
    assert size(ex.image.value)[0] == 560
    ex.probe.width = 2000
    assert size(ex.image.value)[0] == designed
    ex.close()


def test_a_new_width_redraws_only_the_picture():
    """Resizing while a box holds an error keeps the error, the stale step line and the alt text that says
    the picture is the last good move: only the picture is drawn again, at the new width."""
    ex = widgets.MoveExplorer(preset="c-overlap")
    ex.texts["old"].value = "abc"  # + Enter
    shown = (ex.error_line.value, ex.step_line.value, ex.a11y.alt)
    assert ex.error and "last good move" in ex.a11y.alt
    ex.probe.width = 563
    assert size(ex.image.value)[0] == 560
    assert (ex.error_line.value, ex.step_line.value, ex.a11y.alt) == shown
    ex.close()

@pytest.mark.parametrize("preset", ["c-overlap", "cascade", "thp-b", "tiny-c-overlap", "arm64_64k-c-overlap"])
def test_every_label_in_a_narrow_drawing_is_at_least_9_pixels(preset):
    """Shown 1:1 (the browser test checks that), a label of p points at 100 dpi is p * 100 / 72 pixels."""
    from pagemove.presets import PRESETS

    result = PRESETS[preset].run()

    def draw():
        fig = plot.draw_move(result, 1, caption=False, width=fit.MIN_PX / plot.DPI, for_png=True)
        plot.render_png(fig)

    assert smallest_text_pt(draw) * plot.DPI / 72 >= SMALLEST_PX


def test_the_summary_wraps_between_words_only():
    ex = widgets.MoveExplorer(preset="c-overlap")
    style = ex.summary_box.value
    assert "white-space:pre-wrap" in style and "word-break:normal" in style and "overflow-wrap:normal" in style
    assert "pagemove-summary" in ex.summary_box._dom_classes and "pagemove-explorer" in ex.widget._dom_classes
    ex.close()
