"""pagemove.raster (the explorer's pixels) and plot.encode_png: marks land where they should, with the cover,
dashes, clipping and blending the notebook's matplotlib figures have, and the PNG decodes to the pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from pagemove import plot
from pagemove.presets import PRESETS
from pagemove.raster import Canvas, cover

BLACK = np.array([0, 0, 0])


def decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3))), st.sampled_from([0, 1, 6, 9]))
def test_encode_png_decodes_to_exactly_its_pixels(pixels, level):
    assert np.array_equal(decoded(plot.encode_png(pixels, level)), pixels)


def test_encode_png_takes_a_strided_view_of_agg_s_rgba_buffer():
    rgba = np.random.default_rng(1).integers(0, 256, (7, 11, 4), dtype=np.uint8)
    assert np.array_equal(decoded(plot.encode_png(rgba[..., :3])), rgba[..., :3])


def test_cover_is_the_share_of_each_pixel_an_interval_covers():
    assert cover(2.0, 4.0, 6).tolist() == [0, 0, 1, 1, 0, 0]
    assert cover(1.25, 2.5, 4).tolist() == [0, 0.75, 0.5, 0]
    assert cover(10.5, 11, 2, start=10).tolist() == [0.5, 0]


def test_a_solid_outline_covers_its_edges_and_not_its_inside():
    c = Canvas(40, 30)
    c.outline(10, 10, 30, 20, "black", 2)
    px = c.pixels
    assert (px[9:11, 9:31] == 0).all() and (px[19:21, 9:31] == 0).all()  # top and bottom, 2 px, corners filled
    assert (px[9:21, 9:11] == 0).all() and (px[9:21, 29:31] == 0).all()  # left and right
    assert (px[11:19, 11:29] == 255).all()  # inside
    assert (px[:8] == 255).all() and (px[:, :8] == 255).all() and (px[22:] == 255).all()  # outside


def test_outlines_snap_to_whole_pixels_as_agg_does():
    c = Canvas(20, 20)
    c.outline(5, 6, 15, 14, "black", 1)  # odd width: onto the pixel centre, row 6 (not half of 5 and of 6)
    assert c.pixels[6, 10, 0] == 0 and c.pixels[5, 10, 0] == 255 and c.pixels[7, 10, 0] == 255
    c = Canvas(20, 20)
    c.outline(5, 6.4, 15, 14, "black", 2)  # even width: onto the nearest pixel edge, rows 5 and 6
    assert c.pixels[5, 10, 0] == c.pixels[6, 10, 0] == 0 and c.pixels[7, 10, 0] == 255


@pytest.mark.parametrize("at, rows", [(10.4, [10]), (10.6, [11]), (10.5, [11])])
def test_a_thin_outline_snaps_as_matplotlib_s_path_snapper_does(at, rows):
    """floor(v + 0.5), plus half a pixel for an odd width: 10.6 goes to pixel 11, not 10."""
    c = Canvas(30, 30)
    c.outline(5, at, 25, 25, "black", 1)
    assert np.flatnonzero(c.pixels[:20, 15, 0] < 128).tolist() == rows


def test_a_clipped_dashed_edge_keeps_its_dashes_along_the_edge():
    """Clipped narrower than its line is wide, a horizontal edge still dashes along x: a clip over the
    first gap of the top edge (x 12..16) paints nothing."""
    c = Canvas(60, 20)
    c.outline(4, 4, 54, 14, "black", 2, dashes=(8, 4), clip=(13.5, 0, 14.5, 8))  # 1 px wide, 2 px tall
    assert (c.pixels == 255).all()


def test_corners_are_painted_once():
    """The top edge's fringe (a fifth of row 8) is as light over the left edge's column as anywhere: the
    corner is painted by the horizontal edge only, not blended twice."""
    c = Canvas(40, 40)
    c.outline(10.0, 10.0, 30.0, 30.0, "black", 2.4)  # bands [8.8, 11.2) around x = 10 and y = 10
    assert c.pixels[8, 9, 0] == c.pixels[8, 15, 0] == 204


def test_a_line_between_pixels_is_anti_aliased_by_its_cover():
    c = Canvas(20, 20)
    c.line(2, 6, 18, 6, "black", 1)  # [5.5, 6.5): half of row 5 and half of row 6
    assert c.pixels[5, 10, 0] == c.pixels[6, 10, 0] == 128


def test_dashes_run_clockwise_from_the_top_left_corner():
    c = Canvas(60, 20)
    c.outline(4, 4, 54, 14, "black", 2, dashes=(8, 4))
    top = c.pixels[4, 4:54, 0]  # the top edge's row, from the corner
    assert (top[:8] == 0).all() and (top[8:12] == 255).all() and (top[12:20] == 0).all()


def test_outlines_are_clipped_like_a_patch_in_its_axes():
    c = Canvas(40, 30)
    c.outline(10, 10, 30, 20, "black", 4, clip=(10, 10, 30, 20))
    assert (c.pixels[:10] == 255).all() and (c.pixels[:, :10] == 255).all()  # the outer half is cut
    assert (c.pixels[10:12, 10:30] == 0).all()  # the inner half stays


def test_images_blend_with_straight_alpha():
    c = Canvas(4, 4)
    stamp = np.zeros((2, 2, 4), np.uint8)
    stamp[..., 3] = [[255, 128], [0, 64]]
    c.image(stamp, 1, 1)
    assert c.pixels[1, 1].tolist() == [0, 0, 0] and c.pixels[2, 1].tolist() == [255, 255, 255]
    assert c.pixels[1, 2, 0] == 127 and c.pixels[2, 2, 0] == 191
    c.image(stamp, -1, 3)  # partly off the canvas: the part on it is drawn
    assert c.pixels[3, 0].tolist() == [0 + 127] * 3 and (c.pixels[0] == 255).all()


def test_an_arrow_reaches_its_tip_with_a_head_wider_than_its_line():
    c = Canvas(60, 30)
    c.arrow(5, 15.5, 50, 15.5, "black", 1.4, head=(6, 3))  # along the middle of row 15
    col = c.pixels[:, :, 0]
    assert col[15, 6] < 64 and col[15, 48] < 64 and col[15, 49] < 128  # the line, and the head up to its tip
    assert (col[:, 51:] == 255).all() and (col[:, :4] == 255).all()  # nothing past the ends
    assert (col[12:19, 47] < 128).sum() > (col[12:19, 30] < 128).sum()  # the head is wider than the line


def test_a_triangle_is_filled_inside_its_edges():
    c = Canvas(20, 20)
    c.triangle([(2, 2), (18, 2), (2, 18)], "#D55E00")
    assert c.pixels[4, 4].tolist() == [213, 94, 0] and (c.pixels[16, 16] == 255).all()


@pytest.mark.parametrize("preset", ["a", "c-overlap", "cascade", "tiny-c-overlap", "thp-c"])
@pytest.mark.parametrize("step", [None, 1])
def test_the_explorer_s_picture_is_the_notebook_figure_painted_by_numpy(preset, step):
    """The for_png picture (pagemove.raster) and the same drawing by matplotlib's Agg agree: the same size,
    nearly every pixel, and every outline colour in about the same amount (text anti-aliasing and line
    snapping make the few differences)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    result = PRESETS[preset].run()
    ours = decoded(plot.render_png(plot.draw_move(result, step, caption=False, for_png=True))).astype(int)
    fig = plot.draw_move(result, step, caption=False)
    agg = FigureCanvasAgg(fig)
    agg.draw()
    theirs = np.asarray(agg.buffer_rgba())[..., :3].astype(int)
    assert ours.shape == theirs.shape
    assert (np.abs(ours - theirs).max(axis=2) > 64).mean() < 0.045  # measured: 1.4-3.7 %
    width = ours.shape[1]
    gap = slice(round(fig.axes[0].get_position().x1 * width) + 4, round(fig.axes[1].get_position().x0 * width) - 4)
    dark = [int((img[:, gap].max(axis=2) < 80).sum()) for img in (ours, theirs)]  # the arrows between the panels
    assert dark[0] <= 1.5 * dark[1] + 20 and dark[1] <= 1.5 * dark[0] + 20, dark
    for colour in (plot.BLUE, plot.GREEN, plot.VERMILLION, plot.ORANGE, plot.PURPLE):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        near = [int((np.abs(img - rgb).max(axis=2) < 20).sum()) for img in (ours, theirs)]  # not the blends
        assert near[0] <= 2.5 * near[1] + 30 and near[1] <= 2.5 * near[0] + 30, (colour, near)


def test_text_stamps_follow_matplotlib_s_font_settings():
    """A text drawn again under other rcParams (a serif font, no hinting) is drawn again, not taken from the
    cache of the first."""
    import matplotlib

    font = dict(fontsize=10, fontweight="bold")
    first = plot._text_image("0x000001fff000 WARN", font)
    assert plot._text_image("0x000001fff000 WARN", font) is first  # the cache
    with matplotlib.rc_context({"font.family": "serif"}):
        serif = plot._text_image("0x000001fff000 WARN", font)
    with matplotlib.rc_context({"text.hinting": "no_hinting"}):
        unhinted = plot._text_image("0x000001fff000 WARN", font)
    assert not np.array_equal(serif, first) and not np.array_equal(unhinted, first)


def test_render_png_says_which_figures_it_paints():
    fig = plot.draw_move(PRESETS["c-overlap"].run(), caption=False)  # a notebook figure: matplotlib artists
    with pytest.raises(ValueError, match=r"for_png=True.*savefig"):
        plot.render_png(fig)
