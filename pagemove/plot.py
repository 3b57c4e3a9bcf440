"""Drawings of page tables and moves (the only module that uses matplotlib, imported inside functions).

    draw_tables(src, start, end)   one grid: a row per PMD slot, a column per PTE slot (or per 8 PTEs)
    draw_move(result, step=None)   before and after side by side, arrows for whole-entry moves, the WARN

Every page is coloured by where it sat in the moved range (dark at the start, yellow at the end), so
the eye can follow it from the old rows to the new ones. Figures are built with the object API
(matplotlib.figure.Figure), never pyplot, so nothing leaks between calls and any backend works.

The explorer's picture is the same drawing made for speed: draw_move(for_png=True) lays the figure out
as always but records its marks (cells, outlines, bars, arrows, text stamps from a glyph cache) instead
of building artists, and render_png() paints them with pagemove.raster and encodes the PNG. A test holds
the two ways to the same pixels, within anti-aliasing.
"""

from __future__ import annotations

import textwrap

import numpy as np

from .ahead import Kept
from .pgtable import HugePMD
from .text import counts_sentence, hexa, picture_alt, step_title, tables_of, warn_line, windows
from .trace import PMD, PUD, MoveResult

# Okabe-Ito colours (colour-blind safe) for categories; offsets use viridis.
BLUE, GREEN, VERMILLION, PURPLE, ORANGE = "#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00"
# Text is darker than the marks it names, for 4.5:1 on white (vermillion itself is 3.9:1); no state is told by
# colour alone: each kind of outline has its own line style, and the key shows it.
VERMILLION_TEXT = "#B84F00"  # "present, EMPTY", "WARN", a refused step's caption: 5.0:1 on white
GAP_TEXT = "0.3"  # "... n PMD slots ...": 8.4:1 on white
LEAF_LABEL = dict(color="black", bbox=dict(boxstyle="square,pad=0.2", facecolor="white", edgecolor="none"))
OLD_STYLE, NEW_STYLE = "-", (0, (4, 2))  # old range solid, new range dashed (it may lie on grey "none" rows)
EMPTY_STYLE = (0, (3, 2))  # a present but EMPTY PTE table: vermillion dashes, and labelled
DEST_STYLE = (0, (1, 1))  # this step's destination: dotted (a refused one is solid, with its WARN label)
NONE_RGBA = (0.86, 0.86, 0.86, 1.0)  # a none PMD entry: no PTE table at all
HOLE_RGBA = (1.0, 1.0, 1.0, 1.0)  # a none PTE inside a present PTE table
OTHER_RGBA = (0.45, 0.45, 0.45, 1.0)  # a page of some other mapping
GAP_RGBA = (1.0, 1.0, 1.0, 0.0)  # a folded run of PMD slots
PAGE_RGBA = (0.0, 0.447, 0.698, 1.0)  # a present page, when no moved range colours pages by offset
COLUMNS = 64  # cells per row at most: 512-entry tables get one cell per 8 PTEs
FOLD = 5  # runs of more than FOLD similar rows are folded, keeping the first two and the last
KEY_ROW = 0.19  # inches per row of the key along the bottom (it lists only what the drawing shows)
TOP, XLABELS = 0.75, 0.45  # inches above the panels (title, panel titles) and below them for the x labels
WIDTH = 9.0  # inches: 900 px at 100 dpi, the width of a notebook cell
ROW_LINE, COLUMN_LINE = 2.0, 1.5  # points: the white lines between rows, and between cells of a 16-column table


# ---- rows and cells ---------------------------------------------------------------------------------

def _state(pt, addr: int) -> str:
    """'none', 'empty', 'full', 'some' or 'huge' (a huge PMD leaf) for the PMD slot at addr."""
    pte = pt.entry(addr, 1)
    return "none" if pte is None else "huge" if isinstance(pte, HugePMD) else _fill(pte)


def _frames(pt, entry):
    """The frames a PMD entry maps, one per PTE slot: its PTE table, or a huge leaf's consecutive frames."""
    if isinstance(entry, HugePMD):
        return np.arange(entry.first, entry.first + pt.geo.entries, dtype=np.int64)
    return entry


def _fill(pte) -> str:
    """'empty', 'full' or 'some': how much of one PTE table maps pages."""
    n = int(np.count_nonzero(pte))
    return "empty" if n == 0 else "full" if n == pte.size else "some"


def _rows(geo, spans, signature) -> list[tuple]:
    """Display rows for the PMD slots of `spans`: ("slot", addr) or ("gap", first addr, count).

    A run of more than FOLD slots with the same signature keeps its first two and its last slot;
    the slots between two spans become one gap row.
    """
    pmd = geo.pmd_size
    rows: list[tuple] = []
    prev_end = None
    for lo, hi in spans:
        if prev_end is not None and lo > prev_end:
            rows.append(("gap", prev_end, (lo - prev_end) // pmd))
        slots = range(lo, hi, pmd)
        sigs = [signature(a) for a in slots]
        i = 0
        while i < len(slots):
            j = i
            while j + 1 < len(slots) and sigs[j + 1] == sigs[i]:
                j += 1
            if j - i + 1 > FOLD:
                rows += [("slot", slots[i]), ("slot", slots[i + 1]), ("gap", slots[i + 2], j - i - 2),
                         ("slot", slots[j])]
            else:
                rows += [("slot", slots[k]) for k in range(i, j + 1)]
            i = j + 1
        prev_end = hi
    return rows


def _colour_key(pt, lo: int, hi: int) -> np.ndarray:
    """A lookup table, frame -> offset 0..1 of its page in [lo, hi) (NaN: not in the range).

    Colouring by frame means a page keeps its colour wherever it moves."""
    ps = pt.geo.page_size
    bases, tables = _tables_in(pt, lo, hi, leaves=True)
    if not bases.size:
        return np.full(1, np.nan)
    pmd, slots = pt.geo.pmd_size, np.arange(tables.shape[1]) * ps
    offsets = ((bases - lo)[:, None] + slots) / max(hi - lo, 1)  # every slot's offset, all tables at once
    for i in np.flatnonzero((bases < lo) | (bases + pmd > hi)):  # the tables the range's ends cut
        offsets[i][(bases[i] + slots < lo) | (bases[i] + slots >= hi)] = np.nan
    lut = np.full(int(tables.max(initial=0)) + 1, np.nan)
    lut[tables.ravel()] = offsets.ravel()  # one scatter, no masks: a frame sits in one slot, none is frame 0
    lut[0] = np.nan
    return lut


def _tables_in(pt, lo: int, hi: int, leaves: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(bases, tables): the PTE tables whose PMD slot meets [lo, hi), stacked one per row (with leaves, a huge
    leaf as the frames it maps too), so what follows is whole-array numpy, not a loop per table."""
    found = [(b, t if isinstance(t, np.ndarray) else _frames(pt, t)) for b, t in pt.pmd_entries(lo, hi)
             if leaves or isinstance(t, np.ndarray)]
    if not found:
        return np.zeros(0, np.int64), np.zeros((0, pt.geo.entries), np.int64)
    return np.array([b for b, _ in found], np.int64), np.stack([t for _, t in found])


def _cells(pt, rows, lut, cmap) -> np.ndarray:
    """An RGBA image: one row per display row, one cell per PTE (or per group of PTEs)."""
    geo = pt.geo
    group = max(1, geo.entries // COLUMNS)
    cols = geo.entries // group
    img = np.empty((len(rows), cols, 4))
    for r, row in enumerate(rows):
        if row[0] == "gap":
            img[r] = GAP_RGBA
            continue
        pte = pt.entry(row[1], 1)
        if pte is None:
            img[r] = NONE_RGBA
            continue
        pte = _frames(pt, pte)
        img[r] = HOLE_RGBA
        grid = pte.reshape(cols, group)
        present = grid != 0
        anyp = present.any(axis=1)
        if not anyp.any():
            continue
        if lut is None:  # no range to colour by: every page one colour
            img[r][anyp] = PAGE_RGBA
            continue
        # Each cell takes the colour of its first present page; pages of other mappings are grey.
        first = grid[np.arange(cols), present.argmax(axis=1)]
        offset = np.where(first < lut.size, lut[first.clip(0, lut.size - 1)], np.nan)
        known = ~np.isnan(offset)
        colours = np.where(known[:, None], _lut(cmap)[_lut_index(np.nan_to_num(offset), cmap.N)], OTHER_RGBA)
        img[r][anyp] = colours[anyp]
    return img


_LUTS: dict = {}


def _lut(cmap) -> np.ndarray:
    """The colormap's N colours (RGBA floats), looked up by _lut_index() as the colormap itself does, without
    its call's overhead (a cells image calls it once per row)."""
    lut = _LUTS.get((cmap.name, cmap.N))
    if lut is None:
        lut = _LUTS[(cmap.name, cmap.N)] = cmap(np.arange(cmap.N))
    return lut


def _lut_index(x: np.ndarray, n: int) -> np.ndarray:
    """matplotlib's Colormap.__call__ for floats in [0, 1]: x * N, floored, 1.0 onto the last colour."""
    return np.clip((x * n).astype(int), 0, n - 1)


def _states(pt, lo: int, hi: int) -> dict[int, str]:
    """_state() of every PMD slot in [lo, hi) that has a PTE table or a huge leaf, in one walk of that range."""
    return {base: "huge" if isinstance(entry, HugePMD) else _fill(entry)
            for base, entry in pt.pmd_entries(lo, hi) if lo <= base < hi}


def _row_of(rows, addr: int, pmd: int):
    """The display row showing the PMD slot of addr (a gap row if it was folded), or None."""
    slot = addr // pmd * pmd
    for r, row in enumerate(rows):
        if row[0] == "slot" and row[1] == slot:
            return r
        if row[0] == "gap" and row[1] <= slot < row[1] + row[2] * pmd:
            return r
    return None


_LAST: list = [None, None]  # (result, what draw_move derives from it alone): a redrawn step reuses it


def _derived(r: MoveResult) -> dict:
    """What draw_move needs from a result whatever the step: computed once per result."""
    if _LAST[0] is not r:
        geo, pmd = r.geometry, r.geometry.pmd_size
        lo_old, hi_old = min(r.start_old, r.old_addr), r.old_addr + r.length
        lo_new, hi_new = min(r.start_new, r.new_addr), r.new_addr + r.length
        spans = windows(r)
        lo, hi = spans[0][0], spans[-1][1]
        was, now = _states(r.before, lo, hi), _states(r.after, lo, hi)
        rows = _rows(geo, spans, lambda a: (was.get(a, "none"), now.get(a, "none"),
                                            a < hi_old and a + pmd > lo_old, a < hi_new and a + pmd > lo_new))
        row_of = {}  # (old row, new row) of every whole-entry move, in order
        for e in r.events:
            if e.outcome == "moved" and e.level in (PMD, PUD):
                row_of[e.step] = (_row_of(rows, e.old, pmd), _row_of(rows, e.new, pmd))
        _LAST[:] = [r, dict(rows=rows, key=_colour_key(r.before, r.old_addr, r.old_addr + r.length),
                            hi_old=hi_old, hi_new=hi_new, moves=row_of)]
    return _LAST[1]


# ---- one panel ------------------------------------------------------------------------------------

def _shows(img, pt, rows, vmas, pmd) -> set[str]:
    """The key entries one panel needs: which kinds of cells its image has, which VMAs it marks."""
    def has(rgba):
        return bool(np.all(img == rgba, axis=-1).any())

    out = {name for name, rgba in (("none", NONE_RGBA), ("hole", HOLE_RGBA), ("other", OTHER_RGBA),
                                   ("page", PAGE_RGBA)) if has(rgba)}
    states = {_state(pt, row[1]) for row in rows if row[0] == "slot"}
    out |= {"empty", "huge"} & states
    for v in vmas:
        if any(row[0] == "slot" and v.start < row[1] + pmd and v.end > row[1] for row in rows):
            out.add("vma" if v.prot == "rw" else "vma-ro")
    return out


def _panel(ax, pt, rows, img, *, ranges=(), vmas=(), title="", labels=True, bar=-0.018):
    """Draw one grid of PMD rows (img: its cells) into ax, with ranges outlined and VMAs marked by a bar
    beside their rows (bar: its x in axes coordinates, left of the rows or right of them).

    Tick labels are plain texts and outlines one collection: matplotlib's Tick objects and separate
    patches cost more than everything else in the figure.
    """
    import matplotlib
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.patches import Rectangle

    geo = pt.geo
    pmd, ps = geo.pmd_size, geo.page_size
    cols = img.shape[1]
    group = geo.entries // cols
    fig = ax.figure
    if _for_png(fig):  # the cells as pixels, under the outlines (zorder 1); the axes' frame over them
        def cells(canvas):
            x0, y0, w, h = _pixels_once(ax, canvas)
            canvas.image(_cell_pixels(img, w, h, cols <= 16), x0, canvas.size[1] - y0 - h)

        _paint(fig, 0.5, cells)
        frame = matplotlib.rcParams["axes.edgecolor"], matplotlib.rcParams["axes.linewidth"] * DPI / 72
        _paint(fig, 2.5, lambda canvas: canvas.outline(*_box_px(ax, canvas), *frame))
    else:
        ax.imshow(img, aspect="auto", interpolation="nearest", extent=(-0.5, cols - 0.5, len(rows) - 0.5, -0.5))
        # White lines between rows (and between PTEs in the tiny geometry), drawn as two collections under
        # the outlines (zorder 1), which lie on the same boundaries.
        ax.hlines(np.arange(0.5, len(rows) - 1), -0.5, cols - 0.5, color="white", linewidth=ROW_LINE, zorder=0.5)
        if cols <= 16:
            ax.vlines(np.arange(0.5, cols - 1), -0.5, len(rows) - 0.5, color="white", linewidth=COLUMN_LINE,
                      zorder=0.5)
    boxes = []  # (x, y, w, h, colour, style, width) of every outline, in data coordinates

    def box(x, y, w, h, colour, style="-", width=1.6):
        boxes.append((x, y, w, h, colour, style, width))

    ax_x0, ax_y0, ax_w, ax_h = _pixels(ax)

    def at_row(r):  # the pixel height of row r's middle
        return ax_y0 + ax_h - (r + 0.5) / len(rows) * ax_h

    for r, row in enumerate(rows):
        if row[0] == "gap":
            _say(ax, ax_x0 + ax_w / 2, at_row(r), f"... {row[2]} PMD slot{'s' if row[2] != 1 else ''} ...",
                 fontsize=8, color=GAP_TEXT)
        elif (state := _state(pt, row[1])) == "empty":
            box(-0.5, r - 0.42, cols, 0.84, VERMILLION, EMPTY_STYLE, 1.5)
            _say(ax, ax_x0 + ax_w / 2, at_row(r), "present, EMPTY", fontsize=8, color=VERMILLION_TEXT,
                 fontweight="bold")
        elif state == "huge":  # one PMD entry maps the whole row: no PTE table below it
            box(-0.5, r - 0.46, cols, 0.92, "black", "-", 2.2)
            _say(ax, ax_x0 + ax_w / 2, at_row(r), "huge PMD leaf (THP): one entry, no PTE table", fontsize=8,
                 fontweight="bold", **LEAF_LABEL)  # black on its own white box: the leaf's colours run dark to light
    for lo, hi, colour, style in ranges:  # outline the cells of [lo, hi) in each displayed row
        for r, row in enumerate(rows):
            a, b = (max(lo, row[1]), min(hi, row[1] + pmd)) if row[0] == "slot" else (0, 0)
            if a < b:
                c0, c1 = (a - row[1]) // ps // group, -(-((b - row[1]) // ps) // group)
                box(c0 - 0.36, r - 0.36, c1 - c0 - 0.28, 0.72, colour, style)
    if _for_png(fig):
        for b in boxes:
            _outline(ax, *b)
    elif boxes:
        _, _, _, _, edges, styles, widths = zip(*boxes)
        ax.add_collection(PatchCollection([Rectangle(b[:2], *b[2:4]) for b in boxes], facecolors="none",
                                          edgecolors=list(edges), linestyles=list(styles), linewidths=list(widths)))
    bars, colours = [], []
    for v in vmas:  # VMAs: a bar just beside the rows they touch
        hit = [r for r, row in enumerate(rows) if row[0] == "slot" and v.start < row[1] + pmd and v.end > row[1]]
        for r0, r1 in _runs(hit):
            bars.append([(bar, r0 - 0.45), (bar, r1 + 0.45)])
            colours.append("black" if v.prot == "rw" else PURPLE)
    if bars and _for_png(fig):
        def paint_bars(canvas):
            x0, _, w, _ = _pixels_once(ax, canvas)
            to_px, half = _data_px(ax, canvas), BAR * DPI / 72 / 2
            for ((x, ya), (_, yb)), colour in zip(bars, colours):  # projecting ends, as a Line2D's
                (_, top), (_, bottom) = to_px(0, ya), to_px(0, yb)
                canvas.rect(x0 + x * w - half, min(top, bottom) - half, x0 + x * w + half, max(top, bottom) + half,
                            colour)

        _paint(fig, 2, paint_bars)
    elif bars:  # one collection, added without autoscaling: ax.vlines() per bar cost more than the rest of the panel
        ax.add_collection(LineCollection(bars, colors=colours, linewidths=BAR, transform=ax.get_yaxis_transform(),
                                         clip_on=False), autolim=False)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    _x_labels(ax, cols, group)
    ax._pagemove_labels = [hexa(row[1], geo) if row[0] == "slot" else "" for row in rows] if labels else []
    if labels:
        _row_labels(ax, ax._pagemove_labels)
    ax._pagemove_title = title
    if title and _for_png(ax.figure):
        _say(ax, ax_x0 + ax_w / 2, ax_y0 + ax_h + 6, title, va="bottom", fontsize=10)
    elif title:
        ax.set_title(title, fontsize=10)


# ---- text drawn once: the x labels and the row labels are stamped from cached images ---------------------
# Laying out and rasterising text is most of a figure's drawing time, and these strips repeat from one
# drawing to the next (every step of a move, both kernels). Each is rendered once at 100 dpi, the dpi every
# figure is shown and saved at, and placed in figure coordinates, so it lands pixel for pixel.

STAMPS_KEPT = 256  # a picture has about 25 (titles, a label per row, the key): several moves' worth
_STAMPS = Kept(STAMPS_KEPT)  # (what, size in pixels, ...) -> RGBA image, least recently used first
DPI = 100


def _stamp(key, w_px: int, h_px: int, draw) -> np.ndarray:
    """The RGBA image of draw(figure) on a w_px x h_px transparent canvas, rendered once per key."""
    def render():
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(w_px / DPI, h_px / DPI), dpi=DPI)
        fig.patch.set_alpha(0)
        FigureCanvasAgg(fig)
        draw(fig)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()

    return _STAMPS.get(key, render)


def _place(ax, image: np.ndarray, x0_px: int, y0_px: int) -> None:
    """Put `image` with its lower left corner at pixel (x0_px, y0_px) of ax's figure (from the bottom left).

    In figure coordinates, so it moves and scales with the figure (bbox_inches="tight", another dpi).
    A for_png figure (see draw_move) records it as a mark instead (_stamp_at), painted by render_png()."""
    from matplotlib.image import AxesImage

    fig = ax.figure
    if _for_png(fig):
        _stamp_at(fig, image, x0_px, y0_px)
        return
    w, h = fig.get_figwidth() * DPI, fig.get_figheight() * DPI
    im = AxesImage(ax, interpolation="nearest", transform=fig.transFigure)
    im.set_data(image)
    im.set_extent((x0_px / w, (x0_px + image.shape[1]) / w, y0_px / h, (y0_px + image.shape[0]) / h))
    im.set_clip_on(False)
    ax.add_artist(im)


def _pixels(ax) -> tuple[int, int, int, int]:
    """ax's box in whole figure pixels: (x0, y0, width, height)."""
    pos, fig = ax.get_position(), ax.figure
    w, h = fig.get_figwidth() * DPI, fig.get_figheight() * DPI
    x0, y0 = round(pos.x0 * w), round(pos.y0 * h)
    return x0, y0, round(pos.x1 * w) - x0, round(pos.y1 * h) - y0


def _x_labels(ax, cols: int, group: int) -> None:
    """PTE index numbers under the columns and the axis label, as one stamped strip."""
    x0, y0, w, _ = _pixels(ax)
    margin, h = 20, round(XLABELS * DPI)
    ticks = [0, cols // 4, cols // 2, 3 * cols // 4, cols - 1] if cols > 8 else list(range(cols))
    label = ax._pagemove_xlabel = "PTE index" + (f" ({group} PTEs per cell)" if group > 1 else "")

    def draw(fig):
        for t in ticks:
            fig.text((margin + (t + 0.5) / cols * w) / (w + 2 * margin), 1 - 3 / h, str(t * group), ha="center",
                     va="top", fontsize=8)
        fig.text(0.5, 1 - 19 / h, label, ha="center", va="top", fontsize=8)

    _place(ax, _stamp(("x", cols, group, w, h), w + 2 * margin, h, draw), x0 - margin, y0 - h)


def _row_labels(ax, labels: list[str]) -> None:
    """The hex address of each PMD slot row, right-aligned left of the rows, as one stamped strip."""
    x0, y0, w, h = _pixels(ax)
    right = x0 - round(0.04 * w)  # where the labels end, left of the VMA bar
    if _for_png(ax.figure):  # label by label: each new address costs a few glyphs
        for r, text in enumerate(labels):
            if text:
                _say(ax, right, y0 + h - (r + 0.5) / len(labels) * h, text, ha="right", fontsize=8, family="monospace")
        return

    def draw(fig):
        for r, text in enumerate(labels):
            if text:
                fig.text(1, 1 - (r + 0.5) / len(labels), text, ha="right", va="center", fontsize=8,
                         family="monospace")

    _place(ax, _stamp(("rows", tuple(labels), right, h), right, h, draw), 0, y0)


_SHIFT = {"left": 0.0, "center": 0.5, "right": 1.0, "bottom": 0.0, "top": 1.0}


def _say(where, x_px: float, y_px: float, text: str, *, ha: str = "center", va: str = "center", **font) -> None:
    """`text` at pixel (x_px, y_px) of the figure (from the bottom left), belonging to `where` (the figure or
    one of its axes): a matplotlib Text, or for a for_png figure a stamp of it, rendered once per wording."""
    fig = where.figure if hasattr(where, "figure") and where.figure is not None else where
    if not _for_png(fig):
        w, h = fig.get_figwidth() * DPI, fig.get_figheight() * DPI
        where.text(x_px / w, y_px / h, text, ha=ha, va=va, transform=fig.transFigure, **font)
        return
    image = _text_image(text, font)
    th, tw = image.shape[:2]
    _stamp_at(fig, image, round(x_px - _SHIFT[ha] * tw), round(y_px - _SHIFT[va] * th))


def _text_image(text: str, font: dict) -> np.ndarray:
    """One line of text as a tight RGBA image (transparent around the glyphs, or on its bbox's white box).

    Put together from glyphs FreeType renders once per font, size and character (_glyph), at whole-pixel
    pen positions: a new address in a title costs a few array copies, not a figure drawn for it (the
    text a new value brings is most of an explorer update's drawing time otherwise). As tall as the font's
    line ("l" to "p"), like a matplotlib Text, so labels of one size line up."""
    return _STAMPS.get(("text", text, repr(sorted(font.items())), _font_settings()), lambda: _glyph_line(text, font))


def _font_settings() -> tuple:
    """The rcParams that choose a text's font and how FreeType draws it: part of a text stamp's key."""
    import matplotlib

    rc = matplotlib.rcParams
    return tuple(str(rc[k]) for k in ("font.family", "font.sans-serif", "font.monospace", "font.serif",
                                      "text.hinting", "text.hinting_factor"))


def _glyph_line(text: str, font: dict) -> np.ndarray:
    """_text_image() when the line is not kept yet: the glyphs put side by side."""
    from matplotlib.colors import to_rgba

    face, size = _face(font)
    placed, pen, previous = [], 0.0, None
    for ch in text:
        g = _glyph(face, size, ch)
        if previous is not None:
            pen += _kerning(face, size, previous, g.index)
        placed.append((round(pen) + g.left, g))
        pen += g.advance
        previous = g.index
    line = [_glyph(face, size, ch) for ch in "lp"]
    inked = line + [g for _, g in placed if g.bitmap.size]
    top = max(g.top for g in inked)  # pixels above the baseline
    bottom = max(g.bitmap.shape[0] - g.top for g in inked)  # and below it
    left = min((x for x, g in placed if g.bitmap.size), default=0)
    right = max((x + g.bitmap.shape[1] for x, g in placed if g.bitmap.size), default=left + 1)
    alpha = np.zeros((top + bottom, right - left), np.uint8)
    for x, g in placed:
        h, w = g.bitmap.shape
        if h and w:
            into = alpha[top - g.top:top - g.top + h, x - left:x - left + w]
            np.maximum(into, g.bitmap, out=into)  # overlapping glyphs (kerned pairs) keep the darker pixel
    rgb = (np.array(to_rgba(font.get("color", "black"))[:3]) * 255 + 0.5).astype(np.uint8)
    image = np.empty(alpha.shape + (4,), np.uint8)
    image[..., :3], image[..., 3] = rgb, alpha
    if "bbox" in font:  # a label on its own white box, pad points around the text (LEAF_LABEL)
        pad = round(size * DPI / 72 * float(font["bbox"].get("boxstyle", "square,pad=0.3").split("pad=")[1]))
        box = np.full((alpha.shape[0] + 2 * pad, alpha.shape[1] + 2 * pad, 4), 255, np.uint8)
        a = alpha[..., None].astype(np.uint16)
        box[pad:-pad, pad:-pad, :3] = ((rgb * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
        image = box
    return image


def _face(font: dict):
    """(FreeType face, size in points) for the font a _say() call asks for, set to that size at DPI."""
    from matplotlib.font_manager import FontProperties, findfont, get_font

    size = float(font.get("fontsize", 10))
    props = FontProperties(family=font.get("family", None), weight=font.get("fontweight", "normal"), size=size)
    face = get_font(findfont(props))
    return face, size


class _Glyph:
    """One character as FreeType draws it: its coverage bitmap, where that sits relative to the pen and the
    baseline (left, top: pixels right of the pen, above the baseline), the pen's advance, the glyph index."""

    __slots__ = ("bitmap", "left", "top", "advance", "index")


_GLYPHS: dict = {}  # (font file, size, hinting, character) -> _Glyph


def _glyph(face, size: float, ch: str) -> _Glyph:
    from matplotlib.backends.backend_agg import get_hinting_flag

    hinting = get_hinting_flag()  # as matplotlib draws text (rcParams["text.hinting"])
    key = (face.fname, size, str(hinting), ch)
    g = _GLYPHS.get(key)
    if g is None:
        face.set_size(size, DPI)
        face.set_text(ch, 0, flags=hinting)
        face.draw_glyphs_to_bitmap(antialiased=True)
        bitmap = np.asarray(face.get_image())
        metrics = face.load_char(ord(ch), flags=hinting)
        rows, cols = np.flatnonzero(bitmap.any(axis=1)), np.flatnonzero(bitmap.any(axis=0))
        g = _Glyph()
        # Cropped to its inked pixels: the first inked row is the one holding the outline's top (bearing y
        # above the baseline), the first inked column the one holding its left edge (bearing x).
        g.bitmap = bitmap[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].copy() if rows.size else np.zeros((0, 0), np.uint8)
        g.top = int(np.ceil(metrics.horiBearingY / 64))
        g.left = int(np.floor(metrics.horiBearingX / 64))
        g.index = face.get_char_index(ord(ch))
        g.advance = metrics.horiAdvance / 64
        _GLYPHS[key] = g
    return g


_KERNING: dict = {}  # (font file, size, left glyph, right glyph) -> pixels


def _kerning(face, size: float, left: int, right: int) -> float:
    """The pen's correction in pixels between two glyphs, as matplotlib's text layout applies it."""
    key = (face.fname, size, left, right)
    k = _KERNING.get(key)
    if k is None:
        from matplotlib.ft2font import Kerning

        face.set_size(size, DPI)
        k = _KERNING[key] = face.get_kerning(left, right, Kerning.DEFAULT) / 64
    return k


def render_png(fig, compress_level: int = 1) -> bytes:
    """The PNG of a figure drawn with for_png=True: its recorded marks (_paint) painted by pagemove.raster in
    zorder, then encode_png() (zlib level 1: quick, a little larger). A notebook figure: fig.savefig."""
    if not _for_png(fig):
        raise ValueError("render_png() paints a drawing made with draw_move(..., for_png=True); "
                         "save any other figure with fig.savefig()")
    from .raster import Canvas

    canvas = Canvas(int(fig.bbox.width), int(fig.bbox.height))  # Agg's size for this figure
    for _, _, paint in sorted(fig._pagemove_marks, key=lambda m: m[:2]):
        paint(canvas)
    return encode_png(canvas.pixels, compress_level)


# ---- a for_png figure: marks painted by pagemove.raster in zorder, as matplotlib would stack the artists ----

BAR = 3.0  # points: a VMA bar
ARROW_SCALE, ARROW_SHRINK = 10, 2  # an arrow's mutation_scale and shrinkA/B (points), as ConnectionPatch takes them


def _for_png(fig) -> bool:
    return getattr(fig, "_pagemove_for_png", False)


def _paint(fig, zorder: float, paint) -> None:
    """Have paint(canvas) run when render_png() paints this for_png figure, in zorder (then call) order."""
    fig._pagemove_marks.append((zorder, len(fig._pagemove_marks), paint))


def _stamp_at(fig, image: np.ndarray, x0_px: int, y0_px: int) -> None:
    """A stamp (RGBA) over everything else, its lower left corner at (x0_px, y0_px) from the bottom left."""
    _paint(fig, 100, lambda canvas: canvas.image(image, x0_px, canvas.size[1] - y0_px - image.shape[0]))


def _data_px(ax, canvas):
    """(x, y) in ax's data coordinates -> (x, y) canvas pixels from the top left."""
    x0, y0, w, h = _pixels_once(ax, canvas)
    (xa, xb), (ya, yb) = canvas.once(("lim", ax), lambda: (ax.get_xlim(), ax.get_ylim()))
    height = canvas.size[1]
    return lambda x, y: (x0 + (x - xa) / (xb - xa) * w, height - y0 - (y - ya) / (yb - ya) * h)


def _box_px(ax, canvas) -> tuple[int, int, int, int]:
    """ax's box in canvas pixels: (left, top, right, bottom)."""
    x0, y0, w, h = _pixels_once(ax, canvas)
    top = canvas.size[1] - y0 - h
    return x0, top, x0 + w, top + h


def _pixels_once(ax, canvas) -> tuple[int, int, int, int]:
    """_pixels(ax), worked out once per painting (matplotlib's transforms cost more than the marks)."""
    return canvas.once(("box", ax), lambda: _pixels(ax))


def _outline(ax, x: float, y: float, w: float, h: float, colour, style, width: float) -> None:
    """The outline of a box in ax's data coordinates (width in points; style "-" or matplotlib's (offset,
    dashes) in units of the width), clipped to ax like a patch: a Rectangle, or for a PNG a painted mark."""
    fig = ax.figure
    if not _for_png(fig):
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=width, linestyle=style))
        return
    px = width * DPI / 72
    dashes = None if style in ("-", "solid") else [d * px for d in style[1]]  # matplotlib scales dashes by width

    def paint(canvas):
        to_px = _data_px(ax, canvas)
        (xa, ya), (xb, yb) = to_px(x, y), to_px(x + w, y + h)
        canvas.outline(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb), colour, px, dashes,
                       clip=_box_px(ax, canvas))

    _paint(fig, 1, paint)


def _arrow_px(canvas, start, end, colour, width: float) -> None:
    """A ConnectionPatch arrow ("-|>") from start to end (canvas pixels): shortened by ARROW_SHRINK points at
    both ends, its head 0.4 x 0.2 of ARROW_SCALE points long and wide, as matplotlib draws it."""
    (x0, y0), (x1, y1) = start, end
    n = max(np.hypot(x1 - x0, y1 - y0), 1e-9)
    shrink = ARROW_SHRINK * DPI / 72 / n
    x0, y0, x1, y1 = x0 + (x1 - x0) * shrink, y0 + (y1 - y0) * shrink, x1 - (x1 - x0) * shrink, y1 - (y1 - y0) * shrink
    head = (0.4 * ARROW_SCALE * DPI / 72, 0.2 * ARROW_SCALE * DPI / 72)
    canvas.arrow(x0, y0, x1, y1, colour, width * DPI / 72, head)


def encode_png(pixels: np.ndarray, compress_level: int = 1) -> bytes:
    """An RGB image (height x width x 3, uint8) as PNG bytes: every row unfiltered, zlib at compress_level.

    A drawing of flat colours compresses as well without PNG's row filters as with them, and PIL tries
    five filters on every row: this takes a quarter of PIL's time for a PNG of the same size."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width, _ = pixels.shape
    rows = np.zeros((height, 1 + 3 * width), np.uint8)  # each row: filter type 0 (none), then its bytes
    into = rows[:, 1:].reshape(height, width, 3)
    for c in range(3):  # channel by channel: from Agg's RGBA buffer, six times quicker than one strided copy
        into[..., c] = pixels[..., c]
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits per channel, RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, compress_level))
            + chunk(b"IEND", b""))


def _cell_pixels(img: np.ndarray, w: int, h: int, columns: bool) -> np.ndarray:
    """The cells image (rows x cells, RGBA floats) as w x h RGB pixels on white, with the white lines
    between rows (ROW_LINE points) and, with `columns`, between cells (COLUMN_LINE), anti-aliased."""
    nrows, ncols = img.shape[:2]
    cells = ((img[..., :3] * img[..., 3:4] + (1 - img[..., 3:4])) * 255 + 0.5).astype(np.uint8)  # a gap: white
    out = np.take(np.take(cells, _nearest(ncols, w), axis=1), _nearest(nrows, h), axis=0)  # columns first: small
    for axis, n, size, pt in ((0, nrows, h, ROW_LINE), (1, ncols, w, COLUMN_LINE if columns else 0)):
        if n < 2 or not pt:
            continue
        along = np.arange(size) + 0.5
        step = size / n  # pixels per row (or cell); a line is centred on each boundary between two
        cover = np.clip(pt * DPI / 72 / 2 + 0.5 - np.abs(along - np.clip(np.round(along / step), 1, n - 1) * step), 0, 1)
        hit = np.flatnonzero(cover)  # the few pixel rows (or columns) a line touches
        part = out[hit] if axis == 0 else out[:, hit]
        c = cover[hit][:, None, None] if axis == 0 else cover[hit][None, :, None]
        part = (part + (255 - part.astype(np.float32)) * c + 0.5).astype(np.uint8)
        if axis == 0:
            out[hit] = part
        else:
            out[:, hit] = part
    return out


def _nearest(n: int, size: int) -> np.ndarray:
    """For each of `size` pixels, the index of the one of n equal bands its centre falls in (imshow's nearest)."""
    return np.minimum(((np.arange(size) + 0.5) * n / size).astype(int), n - 1)


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Consecutive row numbers as (first, last) runs."""
    out: list[tuple[int, int]] = []
    for r in rows:
        if out and out[-1][1] == r - 1:
            out[-1] = (out[-1][0], r)
        else:
            out.append((r, r))
    return out


def _height(nrows: int, title_lines: int, bottom: float, max_height: float | None = None) -> float:
    """Figure height in inches for nrows display rows, a caption of title_lines lines and `bottom` inches
    below the panels; max_height squeezes the rows instead of growing past it."""
    return min(max_height or 12.0, TOP + 0.17 * title_lines + bottom + 0.28 * max(nrows, 4))


def _canvas(fig, width: float, height: float, rects: list[tuple]) -> tuple:
    """(figure, one axes per rect): a new Figure, or `fig` reused.

    A figure this module drew before keeps its axes: only their artists are removed, because
    building axes (and their ticks) again costs more than drawing into them.
    """
    from matplotlib.figure import Figure

    if fig is None:
        _show_in_jupyter()
        fig = Figure(figsize=(width, height), dpi=100)
    fig.set_size_inches(width, height)
    axes = getattr(fig, "_pagemove_axes", None)
    if axes is not None and list(fig.axes) == axes and len(axes) == len(rects):
        for artist in [*fig.texts, *fig.artists, *fig.legends, *fig.images]:
            artist.remove()
        for ax, rect in zip(axes, rects):
            for artist in [*ax.images, *ax.texts, *ax.patches, *ax.collections, *ax.lines, *ax.artists]:
                artist.remove()
            ax.set_position(rect)
    else:
        fig.clear()
        axes = [fig.add_axes(rect) for rect in rects]
        fig._pagemove_axes = axes
    return fig, axes


def _show_in_jupyter() -> None:
    """Let a Figure left at the end of a notebook cell show as a PNG, with or without %matplotlib inline.

    These figures are built without pyplot, so nothing else tells IPython how to display them."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    from matplotlib.figure import Figure

    formatters = ip.display_formatter.formatters
    png, html = formatters["image/png"], formatters["text/html"]
    if getattr(png.type_printers.get(Figure), "_pagemove", False):
        return
    # A drawing of this module shows as an <img> with its alt text (JupyterLab ignores an image/png's "alt"
    # metadata; nbconvert's HTML and Voila read the <img> as it is); any other Figure as before.
    other = png.type_printers.get(Figure)

    def png_or_none(fig):
        if getattr(fig, "_pagemove_alt", None):
            return None  # shown by figure_html
        return other(fig) if other else _png(fig)

    png_or_none._pagemove = True
    png.for_type(Figure, png_or_none)
    html.for_type(Figure, figure_html)


def with_alt(fig, alt: str):
    """Give a Figure (any, pyplot's too) alt text: in a notebook it then shows as an <img> with that alt text,
    as this module's drawings do. Returns fig, so a cell can end with `plot.with_alt(fig, "...")`."""
    fig._pagemove_alt = alt
    _show_in_jupyter()
    return fig


def figure_html(fig) -> str | None:
    """A drawing of this module as an HTML <img> with its alt text (None for any other Figure)."""
    import base64
    import html

    alt = getattr(fig, "_pagemove_alt", None)
    if not alt:
        return None
    data = base64.b64encode(_png(fig)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}">'


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


_KEY = Kept(32)  # rendered keys by (entries, colour strip, width): text is the slow part, so each is drawn once

# Every entry a key can have, in the order keys list them; a drawing's key shows only those it uses.
KEY_ENTRIES = {
    "page": "page (PTE present)",
    "none": "PMD entry none (no PTE table)",
    "hole": "PTE none",
    "empty": "PMD present, table EMPTY",
    "huge": "huge PMD leaf (THP): no PTE table",
    "other": "page of another mapping",
    "old": "old range (solid)",
    "new": "new range (dashed)",
    "vma": "VMA (bar left of the rows)",
    "vma-sides": "VMA (bar beside its rows: left before, right after)",
    "vma-ro": "read-only VMA",
    "pmd-arrow": "PMD entry moved",
    "pud-arrow": "PUD entry moved",
    "refused": "refused: WARN (solid, labelled)",
    "dest": "this step's destination (dotted)",
}


def _handle(name: str):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    label = KEY_ENTRIES[name]
    return {"page": lambda: Patch(facecolor=PAGE_RGBA, label=label),
            "none": lambda: Patch(facecolor=NONE_RGBA, label=label),
            "hole": lambda: Patch(facecolor="white", edgecolor="0.6", label=label),
            "empty": lambda: Patch(facecolor="white", edgecolor=VERMILLION, linestyle=EMPTY_STYLE, label=label),
            "huge": lambda: Patch(facecolor=PAGE_RGBA, edgecolor="black", linewidth=2, label=label),
            "other": lambda: Patch(facecolor=OTHER_RGBA, label=label),
            "old": lambda: Line2D([], [], color=BLUE, linewidth=2, linestyle=OLD_STYLE, label=label),
            "new": lambda: Line2D([], [], color=GREEN, linewidth=2, linestyle=NEW_STYLE, label=label),
            "vma": lambda: Line2D([], [], color="black", linewidth=3, label=label),
            "vma-sides": lambda: Line2D([], [], color="black", linewidth=3, label=label),
            "vma-ro": lambda: Line2D([], [], color=PURPLE, linewidth=3, label=label),
            "pmd-arrow": lambda: Line2D([], [], color="black", marker=">", label=label),
            "pud-arrow": lambda: Line2D([], [], color=ORANGE, marker=">", label=label),
            "refused": lambda: Line2D([], [], color=VERMILLION, linewidth=2.5, label=label),
            "dest": lambda: Line2D([], [], color=ORANGE, linewidth=2.5, linestyle=DEST_STYLE, label=label)}[name]()


def _key_layout(entries, strip: str, width: float) -> tuple[int, float, float]:
    """(legend columns, legend height, colour-strip height) in inches for these entries at this width.

    A wide figure has the strip right of the legend (height 0: it shares the legend's rows); a narrow one
    has it on a row of its own below, so the longest entry never runs into it."""
    wide = width >= 8
    ncol = (3 if wide else 2) + (not strip)
    rows = -(-len(entries) // ncol) if entries else 0
    legend = KEY_ROW * rows + 0.12 if entries else 0.0
    if not strip:
        return ncol, legend, 0.0
    if wide:
        return ncol, max(legend, 0.55), 0.0
    return ncol, legend, 0.55


def _key_image(cmap, entries: tuple, strip: str, width: float) -> np.ndarray:
    """The key to the marks this drawing shows, as an RGBA image `width` inches wide (drawn once: _KEY)."""
    return _KEY.get((entries, strip, width), lambda: _draw_key(cmap, entries, strip, width))


def _draw_key(cmap, entries: tuple, strip: str, width: float) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncol, legend, below = _key_layout(entries, strip, width)
    height = legend + below
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    if entries:
        fig.legend(handles=[_handle(e) for e in entries], loc="center left", ncol=ncol, fontsize=7.5,
                   frameon=False, bbox_to_anchor=(0.0, 1 - legend / 2 / height), handlelength=1.6,
                   columnspacing=1.0)
    if strip and below:
        _colour_strip(fig, cmap, (0.3, 0.2 / height, 0.4, 0.14 / height), strip)
    elif strip:
        _colour_strip(fig, cmap, (0.78, 0.5 - 0.11 / height, 0.19, 0.22 / height), strip)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def _key(ax, cmap, shown: set[str], strip: str) -> None:
    """Put the key of what the drawing shows along the bottom of ax's figure, as a stamped image (_place)."""
    fig = ax.figure
    entries = tuple(e for e in KEY_ENTRIES if e in shown)
    fig._pagemove_key = ([KEY_ENTRIES[e] for e in entries], strip)  # what the key says, for tests and readers
    if not entries and not strip:
        return
    _place(ax, _key_image(cmap, entries, strip, fig.get_figwidth()), 0, 0)


def _key_height(shown: set[str], strip: str, width: float) -> float:
    entries = tuple(e for e in KEY_ENTRIES if e in shown)
    _, legend, below = _key_layout(entries, strip, width)
    return legend + below


def _colour_strip(fig, cmap, rect, what: str):
    """A bare gradient strip saying what the page colours mean: a page's place in `what`."""
    cax = fig.add_axes(rect)
    cax.imshow(np.linspace(0, 1, 64)[None, :], cmap=cmap, aspect="auto", extent=(0, 1, 0, 1))
    cax.set_axis_off()
    cax.text(0.5, 1.15, f"page colour: its place in {what}", ha="center", va="bottom", fontsize=7.5,
             transform=cax.transAxes)
    cax.text(0, -0.15, "first page", ha="left", va="top", fontsize=7, transform=cax.transAxes)
    cax.text(1, -0.15, "last page", ha="right", va="top", fontsize=7, transform=cax.transAxes)


# ---- public -------------------------------------------------------------------------------------

def draw_tables(src, start: int | None = None, end: int | None = None, *, ax=None, vmas=None, old=None,
                new=None, title=None):
    """One grid of the page tables in [start, end): a row per PMD slot, a column per PTE slot.

    src: an AddressSpace, a PageTables or a MoveResult (its tables after the loop). old and new are
    (start, end) ranges to outline; with `old`, its pages are coloured by their offset in it (and the key
    has the colour strip), without it every page has one colour. The key lists only what the grid shows.
    Returns the Figure (ax's figure when ax is given).
    """
    import matplotlib

    pt = tables_of(src)
    geo = pt.geo
    if vmas is None:
        vmas = getattr(src, "vmas", ()) if not isinstance(src, MoveResult) else src.vmas
    pmd = geo.pmd_size
    if start is None or end is None:
        bases = [b for b, pte in pt.pte_tables() if pte.any()] or [0]
        start = bases[0] if start is None else start
        end = bases[-1] + pmd if end is None else end
    lo, hi = start // pmd * pmd, -(-max(end, start + 1) // pmd) * pmd
    rows = _rows(geo, [(lo, hi)], lambda a: _state(pt, a))
    key = _colour_key(pt, *old) if old else None
    cmap = matplotlib.colormaps["viridis"]
    img = _cells(pt, rows, key, cmap)
    ranges = [(o[0], o[1], c, style) for o, c, style in ((old, BLUE, OLD_STYLE), (new, GREEN, NEW_STYLE)) if o]
    shown = _shows(img, pt, rows, vmas, pmd) | {name for name, o in (("old", old), ("new", new)) if o}
    strip = "the old range" if old else ""
    fresh = ax is None
    if fresh:
        bottom = XLABELS + _key_height(shown, strip, WIDTH)
        h = _height(len(rows), 1, bottom)
        fig, (ax,) = _canvas(None, WIDTH, h, [(0.2, bottom / h, 0.75, 1 - (bottom + TOP) / h)])
    fig = ax.figure
    _panel(ax, pt, rows, img, ranges=ranges, vmas=vmas,
           title=title or f"page tables [{hexa(lo, geo)}, {hexa(hi, geo)}) ({geo.name})")
    if fresh:
        _key(ax, cmap, shown, strip)
        fig._pagemove_alt = tables_alt(pt, rows, ax._pagemove_title, old, new)
    return fig


def tables_alt(pt, rows, title: str, old=None, new=None) -> str:
    """The alt text of a draw_tables() grid: its title and, row by row, what each shown PMD slot holds."""
    geo = pt.geo
    said = {"none": "PMD entry none", "empty": "PTE table present but EMPTY", "huge": "huge PMD leaf (THP)"}
    parts = []
    for row in rows:
        if row[0] == "gap":
            parts.append(f"{row[2]} more PMD slot{'s' if row[2] != 1 else ''} like it")
            continue
        state = _state(pt, row[1])
        if state in said:
            parts.append(f"{hexa(row[1], geo)} {said[state]}")
        else:
            pages = int(np.count_nonzero(pt.entry(row[1], 1)))
            parts.append(f"{hexa(row[1], geo)} {pages} of {geo.entries} pages present")
    ranges = "".join(f"; {what} range [{hexa(o[0], geo)}, {hexa(o[1], geo)}) outlined"
                     for what, o in (("old", old), ("new", new)) if o)
    return f"Page tables, {title}: a row per PMD slot: {'; '.join(parts)}{ranges}."


def draw_move(result: MoveResult, step: int | None = None, *, fig=None, caption: bool = True,
              width: float = WIDTH, max_height: float | None = None, for_png: bool = False):
    """Before and after a move side by side; with `step`, the state after that many loop steps
    (step k: "after step k of n"; 0: before the loop).

    Whole PMD and PUD moves are arrows from the old row to the new one; a refused move is outlined
    in vermillion with the WARN it prints. `fig` is cleared and reused when given. caption=False
    leaves out the sentence and the WARNING line under the title, for a widget that shows them as
    text beside the picture (text is most of the drawing time). width (inches) and max_height size the
    figure for where it is shown; the key lists only what this drawing shows. for_png=True: the figure
    will be saved as it is at 100 dpi (no bbox_inches="tight"), which lets fixed text be blitted faster.
    """
    import matplotlib
    from matplotlib.patches import ConnectionPatch

    r, geo = result, result.geometry
    n = len(r.events)
    if step is not None and not (isinstance(step, int) and 0 <= step <= n):
        raise ValueError(f"step must be an int between 0 and {n}, got {step!r}")
    done = n if step is None else step
    now = r.after if done == n else r.replay(done)
    pmd = geo.pmd_size
    d = _derived(r)
    rows, key, hi_old, hi_new = d["rows"], d["key"], d["hi_old"], d["hi_new"]
    cmap = matplotlib.colormaps["viridis"]

    events = r.events[:done]
    latest = events[-1] if events else None
    refusals = [e for e in events if e.refused]
    if step is None:
        right = "after the loop"
        sentence = counts_sentence(r)
    else:
        right = step_title(done, n)
        sentence = latest.describe() if latest else f"Before the loop: {n} step{'s' if n != 1 else ''} to go. " \
                                                     f"{counts_sentence(r)}"
    lines = textwrap.wrap(sentence, round(120 * width / WIDTH)) if caption else []
    if refusals and caption:
        lines += [f"the kernel prints: {warn_line()}  (once per boot; then move_ptes())"]

    # Arrows for whole-entry moves, from the old row (left) to the new row (right): at most 16.
    arrows, drawn = [], set()
    for e in events:
        if e.step in d["moves"]:
            a, b = d["moves"][e.step]
            if a is not None and b is not None and (a, b) not in drawn and len(drawn) < 16:
                drawn.add((a, b))
                arrows.append((e, a, b))
    img_before, img_now = _cells(r.before, rows, key, cmap), _cells(now, rows, key, cmap)
    shown = _shows(img_before, r.before, rows, r.vmas, pmd) | _shows(img_now, now, rows, r.vmas, pmd)
    shown |= {"old", "new"} | {"pud-arrow" if e.level == PUD else "pmd-arrow" for e, _, _ in arrows}
    if "vma" in shown:  # the bars stand left of the rows before, right of them after
        shown = (shown - {"vma"}) | {"vma-sides"}
    if refusals:
        shown.add("refused")
    if latest is not None and step is not None and not latest.refused:  # a refused step is outlined as "refused"
        shown.add("dest")
    strip = "the moved range"
    title = (f"{r.operation} {hexa(r.old_addr, geo)} -> {hexa(r.new_addr, geo)}, len {r.length:#x}, "
             f"Linux {r.kernel} ({geo.name})")
    titles = textwrap.wrap(title, round(94 * width / WIDTH))  # 10.5 pt bold: about 94 characters in 9 inches
    head = TOP + 0.2 * (len(titles) - 1) + 0.17 * len(lines)  # title lines, caption, panel titles
    bottom_in = XLABELS + _key_height(shown, strip, width)
    height = _height(len(rows), len(lines) + 1.2 * (len(titles) - 1), bottom_in, max_height)
    top = 1 - head / height
    bottom = bottom_in / height  # room for the x labels and the key
    left, right_margin, gap = 1.26 / width, 0.54 / width, 0.72 / width  # row labels; WARN and the VMA bar
    panel = (1 - left - right_margin - gap) / 2
    fig, (ax0, ax1) = _canvas(fig, width, height, [(left, bottom, panel, top - bottom),
                                                   (left + panel + gap, bottom, panel, top - bottom)])
    fig._pagemove_for_png, fig._pagemove_marks = for_png, []
    top_px, mid_px = height * DPI, width * DPI / 2

    for i, line in enumerate(titles):
        _say(fig, mid_px, top_px - (0.12 + 0.2 * i) * DPI, line, va="top", fontsize=10.5, fontweight="bold")
    below_title = 0.4 + 0.2 * (len(titles) - 1)
    for i, line in enumerate(lines):  # the WARN line, and a refused step, in vermillion
        red = line.startswith("the kernel prints") or (latest is not None and latest.refused and step is not None)
        _say(fig, mid_px, top_px - (below_title + 0.17 * i) * DPI, line, va="top", fontsize=8.5,
             color=VERMILLION_TEXT if red else "black")

    old_range, new_range = (r.old_addr, hi_old, BLUE, OLD_STYLE), (r.new_addr, hi_new, GREEN, NEW_STYLE)
    _panel(ax0, r.before, rows, img_before, ranges=[old_range], vmas=r.vmas, title="before (loop start)")
    _panel(ax1, now, rows, img_now, ranges=[new_range], vmas=r.vmas, title=right, labels=False, bar=1.018)

    for e, a, b in arrows:
        cols = ax0.get_xlim()[1]
        colour, width = ORANGE if e.level == PUD else "black", 1.6 if e is latest else 1.0
        if for_png:
            _paint(fig, 10, lambda canvas, x=cols, a=a, b=b, colour=colour, width=width: _arrow_px(
                canvas, _data_px(ax0, canvas)(x, a), _data_px(ax1, canvas)(-0.5, b), colour, width))
        else:
            fig.add_artist(ConnectionPatch((cols, a), (-0.5, b), "data", "data", axesA=ax0, axesB=ax1,
                                           arrowstyle="-|>", color=colour, linewidth=width,
                                           mutation_scale=ARROW_SCALE, shrinkA=ARROW_SHRINK, shrinkB=ARROW_SHRINK))
    # The step just taken, outlined on the right; a refusal in vermillion.
    if latest is not None and step is not None:
        _mark_extent(ax1, rows, latest.new, latest.extent, geo, *((VERMILLION, "-") if latest.refused
                                                                   else (ORANGE, DEST_STYLE)))
    for e in refusals:
        rr = _row_of(rows, e.new, pmd)
        if rr is not None:
            cols = ax1.get_xlim()[1] + 0.5
            _outline(ax1, -0.5, rr - 0.5, cols, 1, VERMILLION, "-", 2.5)
            x0, y0, w, h = _pixels(ax1)
            _say(ax1, x0 + w + 10, y0 + h - (rr + 0.5) / len(rows) * h, "WARN", ha="left", fontsize=8,
                 color=VERMILLION_TEXT, fontweight="bold")
    _key(ax0, cmap, shown, strip)
    if not for_png:  # the explorer gives its picture alt text of its own (pagemove.a11y)
        fig._pagemove_alt = picture_alt(r, step)
    return fig


def _mark_extent(ax, rows, start, extent, geo, colour, style):
    """Outline the destination cells of one step."""
    pmd, ps = geo.pmd_size, geo.page_size
    cols = int(ax.get_xlim()[1] + 0.5)
    group = geo.entries // cols
    for r, row in enumerate(rows):
        if row[0] != "slot":
            continue
        a, b = max(start, row[1]), min(start + extent, row[1] + pmd)
        if a < b:
            c0, c1 = (a - row[1]) // ps // group, -(-((b - row[1]) // ps) // group)
            _outline(ax, c0 - 0.5, r - 0.5, c1 - c0, 1, colour, style, 2.5)
