"""Pixels for the explorer's picture: outlines, lines, arrows and images painted with numpy.

plot.draw_move(for_png=True) decides where everything goes, as it does for a matplotlib figure, but hands
the marks to a Canvas instead of building matplotlib artists; plot.render_png() then encodes the pixels.
A few dozen axis-aligned outlines and arrows take a millisecond or two this way, where building and drawing
the same artists took most of an explorer update.

    canvas = Canvas(width, height)                         # white; coordinates in pixels from the top left
    canvas.image(rgba, left, top)                          # an RGBA image (uint8), blended
    canvas.outline(x0, y0, x1, y1, "#0072B2", 2.2, dashes=(8.8, 4.4), clip=box)
    canvas.line(x0, y0, x1, y1, "black", 4.2)              # any direction
    canvas.arrow(x0, y0, x1, y1, "black", 1.4, head=(5.6, 2.8))
    canvas.pixels                                          # height x width x 3, uint8

Lines are anti-aliased by their area cover of each pixel, the way Agg does it, so the picture looks like
the notebook's matplotlib figures. Widths and dash lengths are in pixels (plot converts from points).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

_RGB: dict = {}


def rgb(colour) -> np.ndarray:
    """A colour matplotlib understands ("#D55E00", "black", "0.3", an RGB(A) tuple) as three floats 0..255."""
    key = colour if isinstance(colour, str) else tuple(colour)
    if key not in _RGB:
        from matplotlib.colors import to_rgb  # names and grey levels: matplotlib's own table

        _RGB[key] = np.array(to_rgb(colour), np.float32) * 255
    return _RGB[key]


def snap(v: float, width: float) -> float:
    """Where Agg puts a horizontal or vertical line's middle (matplotlib's PathSnapper: floor(v + 0.5), plus
    half a pixel when the line is an odd number of pixels wide), so it covers whole pixels."""
    return float(np.floor(v + 0.5)) + (0.5 if round(width) % 2 else 0.0)


def cover(lo: float, hi: float, n: int, start: int = 0) -> np.ndarray:
    """How much of each pixel start..start+n-1 the interval [lo, hi) covers, 0..1 (its anti-aliasing)."""
    edges = np.arange(start, start + n, dtype=np.float32)
    return np.clip(np.minimum(edges + 1, hi) - np.maximum(edges, lo), 0, 1)


class Canvas:
    """An RGB image, white to start with, that marks are painted onto in the order they are given."""

    def __init__(self, width: int, height: int):
        self.pixels = np.full((height, width, 3), 255, np.uint8)
        self._memo = {}  # what the painter works out once per picture (plot: its axes' boxes and limits)

    def once(self, key, make):
        """make()'s value, worked out once per picture (what every mark of it needs)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def image(self, rgba: np.ndarray, left: int, top: int) -> None:
        """Blend an RGBA image (straight alpha) with its top left corner at pixel (left, top)."""
        width, height = self.size
        h, w = rgba.shape[:2]
        r0, c0, r1, c1 = max(0, top), max(0, left), min(height, top + h), min(width, left + w)
        if r0 >= r1 or c0 >= c1:
            return
        rows, cols = slice(r0 - top, r1 - top), slice(c0 - left, c1 - left)
        if rgba.shape[2] == 3:
            self.pixels[r0:r1, c0:c1] = rgba[rows, cols]
            return
        opaque, coloured, keep = _prepared(rgba)
        if opaque:
            self.pixels[r0:r1, c0:c1] = rgba[rows, cols, :3]
            return
        under = self.pixels[r0:r1, c0:c1]
        under[...] = (under * keep[rows, cols] + coloured[rows, cols]).astype(np.uint8)

    def _blend(self, top: int, left: int, colour, alpha: np.ndarray) -> None:
        """Mix colour (an RGB triple, or an image as big as alpha) into the pixels under alpha (0..1)."""
        h, w = alpha.shape
        under = self.pixels[top:top + h, left:left + w]
        mixed = under.astype(np.float32)
        mixed += (np.asarray(colour, np.float32) - mixed) * alpha[..., None].astype(np.float32, copy=False)
        mixed += 0.5  # rounded, not truncated, when it goes back into the uint8 pixels
        under[...] = mixed

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour, along=None, clip=None,
             horizontal: bool | None = None) -> None:
        """Fill [x0, x1) x [y0, y1) with colour, anti-aliased at its edges. along: a 0..1 mask over its
        columns (a horizontal stroke's dashes) or rows (a vertical one's); horizontal says which (by default
        the longer side, before clipping)."""
        if horizontal is None:
            horizontal = x1 - x0 >= y1 - y0
        width, height = self.size
        cx0, cy0, cx1, cy1 = clip if clip is not None else (0, 0, width, height)
        x0, y0, x1, y1 = max(x0, cx0), max(y0, cy0), min(x1, cx1), min(y1, cy1)
        if x0 >= x1 or y0 >= y1:
            return
        c0, r0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        c1, r1 = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
        if c0 >= c1 or r0 >= r1:
            return
        across, down = cover(x0, x1, c1 - c0, c0), cover(y0, y1, r1 - r0, r0)
        if along is not None:
            if horizontal:
                across = across * along(np.arange(c0, c1) + 0.5)
            else:
                down = down * along(np.arange(r0, r1) + 0.5)
        self._blend(r0, c0, rgb(colour), np.outer(down, across))

    def outline(self, x0: float, y0: float, x1: float, y1: float, colour, width: float, dashes=None,
                clip=None) -> None:
        """The outline of the box (x0, y0)-(x1, y1), its line `width` pixels wide and centred on the box's
        edge, snapped to the pixel grid as Agg snaps a rectangle (so a thin line stays crisp). dashes: (on,
        off, ...) pixels, starting at the top left corner and running clockwise, as a matplotlib Rectangle's
        path does in an axes whose y axis points down."""
        x0, y0, x1, y1 = (snap(v, width) for v in (x0, y0, x1, y1))
        half = width / 2
        edges = [(x0, y0, x1, y0), (x1, y0, x1, y1), (x1, y1, x0, y1), (x0, y1, x0, y0)]  # clockwise
        start = 0.0
        for ax, ay, bx, by in edges:
            length = abs(bx - ax) + abs(by - ay)
            along = None if dashes is None else _dash_mask(dashes, start, ax if ay == by else ay,
                                                           1 if (bx > ax or by > ay) else -1)
            if ay == by:  # horizontal, widened by half a line at both ends: it fills the corners
                self.rect(min(ax, bx) - half, ay - half, max(ax, bx) + half, ay + half, colour, along, clip, True)
            else:  # vertical, between the corners (painting them twice would darken their anti-aliased edges)
                self.rect(ax - half, min(ay, by) + half, ax + half, max(ay, by) - half, colour, along, clip, False)
            start += length

    def line(self, x0: float, y0: float, x1: float, y1: float, colour, width: float) -> None:
        """A straight line of `width` pixels between two points (butt ends), anti-aliased."""
        half = width / 2
        c0, c1 = int(np.floor(min(x0, x1) - half - 1)), int(np.ceil(max(x0, x1) + half + 1))
        r0, r1 = int(np.floor(min(y0, y1) - half - 1)), int(np.ceil(max(y0, y1) + half + 1))
        ys, xs = self._grid(c0, r0, c1, r1)
        if ys is None:
            return
        dx, dy = x1 - x0, y1 - y0
        length = max(np.hypot(dx, dy), 1e-9)
        t = ((xs - x0) * dx + (ys - y0) * dy) / length  # along the line, from its start
        d = np.abs((xs - x0) * dy - (ys - y0) * dx) / length  # from the line's axis
        alpha = np.clip(half + 0.5 - d, 0, 1) * np.clip(np.minimum(t, length - t) + 0.5, 0, 1)
        self._blend(int(ys[0, 0] - 0.5), int(xs[0, 0] - 0.5), rgb(colour), alpha)

    def triangle(self, points, colour) -> None:
        """A filled triangle, anti-aliased by each pixel centre's distance from its edges."""
        (ax, ay), (bx, by), (cx, cy) = points
        c0, c1 = int(np.floor(min(ax, bx, cx))) - 1, int(np.ceil(max(ax, bx, cx))) + 1
        r0, r1 = int(np.floor(min(ay, by, cy))) - 1, int(np.ceil(max(ay, by, cy))) + 1
        ys, xs = self._grid(c0, r0, c1, r1)
        if ys is None:
            return
        inside = np.full(xs.shape, np.inf, np.float32)
        turn = np.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) or 1.0
        for (px, py), (qx, qy) in (((ax, ay), (bx, by)), ((bx, by), (cx, cy)), ((cx, cy), (ax, ay))):
            length = max(np.hypot(qx - px, qy - py), 1e-9)
            inside = np.minimum(inside, turn * ((qx - px) * (ys - py) - (qy - py) * (xs - px)) / length)
        self._blend(int(ys[0, 0] - 0.5), int(xs[0, 0] - 0.5), rgb(colour), np.clip(inside + 0.5, 0, 1))

    def arrow(self, x0: float, y0: float, x1: float, y1: float, colour, width: float,
              head: tuple[float, float]) -> None:
        """A line from (x0, y0) to a filled head whose tip is (x1, y1): head = (length, half width), pixels."""
        length, half = head
        dx, dy = x1 - x0, y1 - y0
        n = max(np.hypot(dx, dy), 1e-9)
        ux, uy = dx / n, dy / n
        bx, by = x1 - ux * length, y1 - uy * length  # the middle of the head's base
        self.line(x0, y0, bx + ux * 0.5, by + uy * 0.5, colour, width)  # into the head: no seam
        self.triangle([(x1, y1), (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)], colour)

    def _grid(self, c0: int, r0: int, c1: int, r1: int):
        """Pixel centres (ys, xs) of the box's part that lies on the canvas, or (None, None)."""
        width, height = self.size
        c0, r0, c1, r1 = max(0, c0), max(0, r0), min(width, c1), min(height, r1)
        if c0 >= c1 or r0 >= r1:
            return None, None
        return np.mgrid[r0:r1, c0:c1].astype(np.float32) + 0.5


_PREPARED: OrderedDict = OrderedDict()  # id(image) -> (image, opaque, colour x alpha + 0.5, 1 - alpha)
PREPARED_KEPT = 256


def _prepared(rgba: np.ndarray):
    """(opaque, colour x alpha + 0.5, 1 - alpha) of an RGBA image, worked out once per image: plot's stamps
    (text, keys) are the same arrays from one picture to the next."""
    hit = _PREPARED.get(id(rgba))
    if hit is not None and hit[0] is rgba:  # the image itself is kept, so its id cannot be reused meanwhile
        _PREPARED.move_to_end(id(rgba))
        return hit[1:]
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    entry = (rgba, bool(rgba[..., 3].min() == 255), rgba[..., :3] * alpha + 0.5, 1 - alpha)
    _PREPARED[id(rgba)] = entry
    while len(_PREPARED) > PREPARED_KEPT:
        _PREPARED.popitem(last=False)
    return entry[1:]


def _dash_mask(dashes, start: float, origin: float, direction: int):
    """A function of pixel centres along one edge: 1 where the dash pattern is on, 0 where it is off.

    The pattern runs on from `start` (its length already used by the edges before) from `origin` in
    `direction` (+1 or -1)."""
    pattern = np.cumsum(dashes)
    period = pattern[-1]

    def on(centres):
        s = (start + (centres - origin) * direction) % period
        index = np.searchsorted(pattern, s, side="right")
        return (index % 2 == 0).astype(np.float32)

    return on
