"""Drawings: the right figure structure for every step, both geometries, big moves; no import-time matplotlib."""

import io
import subprocess
import sys

import numpy as np
import pytest

import pagemove as pm
from pagemove import plot
from pagemove.presets import PRESETS
from pagemove.scenario import simulate

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402


def panels(fig):
    """The before and after grids."""
    return [ax for ax in fig.axes if ax.get_title()]


def row_labels(ax):
    """The hex addresses written beside the rows."""
    return [t.get_text() for t in ax.texts if t.get_text().startswith("0x")]


def test_import_pagemove_loads_no_matplotlib():
    code = "import sys, pagemove, pagemove.text; print('matplotlib' in sys.modules, 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("name", ["c-overlap", "tiny-c-overlap"])
def test_draw_move_every_step_in_both_geometries(name):
    r = PRESETS[name].run()
    for step in range(len(r.events) + 1):
        fig = plot.draw_move(r, step)
        assert isinstance(fig, Figure)
        before, after = panels(fig)
        assert before.get_title() == "before (loop start)"
        assert after.get_title().startswith(f"after step {step - 1} ({step} of 2 done)" if step else "before step 0")


def test_draw_move_rows_are_pmd_slots_labelled_in_hex():
    fig = plot.draw_move(PRESETS["c-overlap"].run())
    assert len(fig.axes) == 2  # before and after; the key is an image in figure coordinates
    labels = row_labels(panels(fig)[0])
    assert labels == ["0x000001a00000", "0x000001c00000", "0x000001e00000", "0x000002000000", "0x000002200000"]


def test_refusal_is_highlighted_with_the_warn():
    fig = plot.draw_move(PRESETS["c-overlap"].run(), 2)
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for t in panels(fig)[1].texts]
    assert any("move_normal_pmd" in t and t.startswith("WARNING") for t in texts)
    assert "WARN" in texts and "present, EMPTY" in texts
    fixed = plot.draw_move(PRESETS["c-overlap"].run(kernel="6.7"))
    assert not any("WARN" in t.get_text() for t in fixed.texts + panels(fixed)[1].texts)


def test_pmd_moves_are_arrows():
    from matplotlib.patches import ConnectionPatch

    def arrows(fig):
        return [a for a in fig.artists if isinstance(a, ConnectionPatch)]

    r = PRESETS["linus"].run()  # 6.7: two whole PMD moves
    assert len(arrows(plot.draw_move(r))) == 2
    assert len(arrows(plot.draw_move(r, 1))) == 1
    assert arrows(plot.draw_move(PRESETS["b"].run())) == []


def test_the_empty_pmd_appears_after_step_one_and_not_before():
    r = PRESETS["c-overlap"].run()
    assert "present, EMPTY" not in [t.get_text() for t in panels(plot.draw_move(r, 0))[1].texts]
    assert "present, EMPTY" in [t.get_text() for t in panels(plot.draw_move(r, 1))[1].texts]


def test_a_gib_move_is_folded_into_a_readable_figure():
    for new in (0x80000000, 0x80001000):  # one PUD move; 262144 PTE moves
        r = simulate(0x40000000, new, 0x40000000, kernel="6.6")
        fig = plot.draw_move(r)
        before = panels(fig)[0]
        assert 6 <= len(row_labels(before)) <= 16
        assert any("509 PMD slots" in t.get_text() for t in before.texts)
        assert fig.get_figwidth() == 9 and fig.get_figheight() <= 12


def test_pages_keep_their_colour_from_old_to_new():
    r = PRESETS["tiny-a"].run()
    fig = plot.draw_move(r)
    before, after = (ax.get_images()[0].get_array() for ax in panels(fig))
    def painted(img):
        return img[(img[..., :3] != plot.NONE_RGBA[:3]).any(-1) & (img[..., 3] > 0)]
    assert np.array_equal(np.unique(painted(before), axis=0), np.unique(painted(after), axis=0))


def test_fig_is_reused_and_output_is_deterministic():
    r = PRESETS["tiny-cascade"].run()
    fig = plot.draw_move(r, 1)
    again = plot.draw_move(r, 2, fig=fig)
    assert again is fig and len(panels(fig)) == 2

    def png(f):
        buf = io.BytesIO()
        f.savefig(buf, format="png", metadata={"Software": None})
        return buf.getvalue()

    assert png(plot.draw_move(r, 1)) == png(plot.draw_move(r, 1))
    # Drawing into a reused figure leaves nothing of the previous drawing behind.
    big = plot.draw_move(PRESETS["cascade"].run())
    assert png(plot.draw_move(r, 1, fig=big)) == png(plot.draw_move(r, 1))


def test_bad_step_is_a_clear_error():
    r = PRESETS["c"].run()
    with pytest.raises(ValueError, match="step must be an int between 0 and 2"):
        plot.draw_move(r, 3)


def test_draw_tables_marks_none_empty_and_present():
    mm = pm.AddressSpace(pm.Geometry.tiny())
    mm.mmap(0x8000, 0x8000, populate=True)
    mm.mmap(0x18000, 0x1000, populate=True)
    mm.pt.zap(0x18000, 0x19000)  # leave the table present but empty
    fig = plot.draw_tables(mm, 0x0, 0x20000, old=(0x8000, 0x10000))
    ax = panels(fig)[0]
    img = ax.get_images()[0].get_array()
    assert img.shape[:2] == (4, 8)
    assert tuple(img[0, 0]) == plot.NONE_RGBA and tuple(img[2, 0]) == plot.NONE_RGBA
    assert tuple(img[3, 0]) == plot.HOLE_RGBA
    assert "present, EMPTY" in [t.get_text() for t in ax.texts]
    assert len({tuple(c) for c in img[1]}) == 8  # eight pages, eight offsets, eight colours


def test_figures_module_writes_the_readme_figures(tmp_path):
    from pagemove import figures

    paths = figures.make(tmp_path)
    assert sorted(p.name for p in paths) == ["arm64-64k-warn.png", "case-a.png", "case-b.png", "case-c-warn.png",
                                             "case-c.png", "fix.png", "thp-split.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)


def test_a_huge_leaf_is_one_labelled_row_without_a_pte_table():
    r = PRESETS["thp-c"].run(kernel="6.6")
    fig = plot.draw_move(r, 1)  # after step 1 of 2: the huge leaf is still there, on the left and the right
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("huge PMD leaf (THP): one entry, no PTE table") == 2
    mm = pm.AddressSpace()
    mm.mmap(0x40000000, 0x400000, populate=True, thp=True)
    pt = mm.pt
    rows = [("slot", 0x40000000), ("slot", 0x40200000)]
    img = plot._cells(pt, rows, plot._colour_key(pt, 0x40000000, 0x40400000), matplotlib.colormaps["viridis"])
    assert len({tuple(c) for c in img[0]}) == img.shape[1]  # every page its own colour, in order


@pytest.mark.parametrize("name", ["arm64_16k", "arm64_64k"])
def test_big_tables_stay_64_cells_wide(name):
    """2048 and 8192 PTEs per table: one cell per 32 or 128 PTEs, rows folded as for 512."""
    geo = getattr(pm.Geometry, name)()
    r = simulate(2 * geo.pmd_size - geo.page_size, geo.pmd_size - geo.page_size, geo.pmd_size + geo.page_size,
                 stack=True, geometry=name)
    fig = plot.draw_move(r)
    image = fig.axes[0].images[0].get_array()
    assert image.shape[1] == 64 and image.shape[0] <= 8
    assert f"({geo.entries // 64} PTEs per cell)" in fig.axes[0].get_xlabel()
