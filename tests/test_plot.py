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
    """The hex addresses written beside the rows (stamped as one image: the panel records them)."""
    return [label for label in ax._pagemove_labels if label]


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
        n = len(r.events)
        assert after.get_title() == (f"after step {step} of {n}" if step else f"before the loop (0 of {n} steps done)")


def test_draw_move_rows_are_pmd_slots_labelled_in_hex():
    fig = plot.draw_move(PRESETS["c-overlap"].run())
    assert len(fig.axes) == 2  # before and after; the key is an image in figure coordinates
    labels = row_labels(panels(fig)[0])
    assert labels == ["0x000001a00000", "0x000001c00000", "0x000001e00000", "0x000002000000", "0x000002200000"]


def test_refusal_is_highlighted_with_the_warn():
    fig = plot.draw_move(PRESETS["c-overlap"].run(), 2)
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for t in panels(fig)[1].texts]
    warn = [t for t in texts if "WARNING" in t]
    assert len(warn) == 1 and warn[0].startswith("the kernel prints: WARNING: CPU: 1 PID: 1 at mm/mremap.c:")
    assert " move_page_tables+0x" in warn[0]  # move_normal_pmd() is inlined: %pS names its caller
    assert "_" not in warn[0].replace("move_page_tables", "").replace("move_ptes", "")  # no '_' placeholders
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


# ---- the key lists what the drawing shows, and nothing else ------------------------------------------

def key_of(fig):
    labels, strip = fig._pagemove_key
    return labels, strip


def test_a_plain_address_space_has_a_small_key_and_one_page_colour():
    mm = pm.AddressSpace(pm.Geometry.tiny())
    mm.mmap(0x10000, 0x18000, populate=True)
    fig = plot.draw_tables(mm, 0x10000, 0x38000)
    labels, strip = key_of(fig)
    assert labels == ["page (PTE present)", "PMD entry none (no PTE table)", "VMA (bar left of the rows)"]
    assert strip == ""  # no colour bar: pages are not coloured by an offset here
    img = panels(fig)[0].get_images()[0].get_array()
    assert {tuple(c) for c in img.reshape(-1, 4)} == {plot.PAGE_RGBA, plot.NONE_RGBA}


def test_a_move_key_has_only_the_marks_of_that_step():
    DEST, WARN = plot.KEY_ENTRIES["dest"], plot.KEY_ENTRIES["refused"]
    r = PRESETS["c-overlap"].run()  # 6.6: step 1 moves one PTE, step 2 is refused (the WARN)
    first, _ = key_of(plot.draw_move(r, 1))
    assert DEST in first and WARN not in first
    assert "PMD entry moved" not in first and "PUD entry moved" not in first
    assert "VMA (bar beside its rows: left before, right after)" in first
    assert not any(label == "VMA (bar left of the rows)" for label in first)  # bars are right of 'after'
    warned, strip = key_of(plot.draw_move(r, 2))
    assert WARN in warned and strip == "the moved range"
    moved, _ = key_of(plot.draw_move(PRESETS["linus"].run()))  # 6.7: two whole PMD moves, the whole loop
    assert "PMD entry moved" in moved and WARN not in moved and DEST not in moved
    pud, _ = key_of(plot.draw_move(simulate(0x40000000, 0x80000000, 0x40000000, kernel="6.6")))
    assert "PUD entry moved" in pud and "PMD entry moved" not in pud


def test_every_key_entry_names_something_drawn():
    """Across the presets, each label the key shows is backed by that mark in the figure."""
    for name in ("c-overlap", "tiny-c-guard", "b", "linus"):
        r = PRESETS[name].run()
        for step in (None, 0, 1):
            fig = plot.draw_move(r, step)
            labels, _ = key_of(fig)
            before, after = panels(fig)
            imgs = [ax.get_images()[0].get_array() for ax in (before, after)]
            has = {rgba: any(np.all(i == rgba, axis=-1).any() for i in imgs)
                   for rgba in (plot.NONE_RGBA, plot.OTHER_RGBA)}
            assert ("PMD entry none (no PTE table)" in labels) == has[plot.NONE_RGBA]
            assert ("page of another mapping" in labels) == has[plot.OTHER_RGBA]
            empty = any(t.get_text() == "present, EMPTY" for ax in (before, after) for t in ax.texts)
            assert ("PMD present, table EMPTY" in labels) == empty


def test_a_narrow_figure_is_drawn_at_its_width():
    r = PRESETS["cascade"].run()
    fig = plot.draw_move(r, 1, width=5.9, max_height=4.6, caption=False)
    assert fig.get_figwidth() == 5.9 and fig.get_figheight() <= 4.6
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    from PIL import Image

    assert Image.open(io.BytesIO(buf.getvalue())).size[0] == 590


def test_a_huge_leaf_is_one_labelled_row_without_a_pte_table():
    r = PRESETS["thp-c"].run(kernel="6.6")
    fig = plot.draw_move(r, 1)  # after step 1 of 2: the huge leaf is still there, on the left and the right
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("huge PMD leaf (THP): one entry, no PTE table") == 2
    assert "huge PMD leaf (THP): no PTE table" in key_of(fig)[0]
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
    assert f"({geo.entries // 64} PTEs per cell)" in fig.axes[0]._pagemove_xlabel  # stamped under the grid


def test_a_thp_move_caption_counts_its_huge_pages():
    from pagemove.presets import PRESETS

    r = PRESETS["thp-a"].run(kernel="6.7")
    fig = plot.draw_move(r)
    said = " ".join(t.get_text() for t in fig.texts) + " ".join(ax.get_title() for ax in fig.axes)
    assert f"{r.huge_pmd_moves} huge PMD" in said and r.huge_pmd_moves == 2


@pytest.mark.parametrize("preset", ["c-overlap", "cascade", "thp-c", "tiny-cascade", "arm64_64k-c-overlap"])
def test_the_colour_key_gives_every_frame_its_place_in_the_range(preset):
    """plot._colour_key (whole-array numpy) against the definition, page by page: a frame mapped at address
    a in [lo, hi) gets (a - lo) / (hi - lo); every other frame gets no colour (NaN)."""
    r = PRESETS[preset].run()
    ps = r.geometry.page_size
    for lo, hi in ((r.old_addr, r.old_addr + r.length), (r.old_addr + 3 * ps, r.old_addr + r.length - ps)):
        lut = plot._colour_key(r.before, lo, hi)
        pages = r.before.pages()
        assert pages and max(pages.values()) < lut.size
        for addr, frame in pages.items():
            want = (addr - lo) / (hi - lo) if lo <= addr < hi else np.nan
            assert np.array_equal(lut[frame], want, equal_nan=True), (hex(addr), frame)
        assert np.isnan(lut[0])  # frame 0 is no page
