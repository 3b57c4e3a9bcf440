"""Fitting the explorer to where it is shown: the width its picture gets, and CSS that keeps controls whole.

A notebook column can be 1000 pixels wide or, in JupyterLab at 1024x768 with the file browser open, under
600. A PNG drawn 900 pixels wide and scaled down to fit has 7-pixel labels. So the front end measures:

    probe = WidthProbe()          # a zero-height widget beside the picture (probe.js, shipped here)
    probe.width                   # CSS pixels its container gives it; 0 until a front end measured it
    drawing_px(probe.width, 900)  # the pixel width to draw at: the space there is, within limits

and the explorer draws its picture exactly that wide, so it is shown 1:1 and every label keeps its size.
The stylesheet (explorer.css, sent along with the probe) lets the case dropdown and toggle groups shrink
and wrap instead of being cut off, gives the number boxes room for the longest value any geometry can
produce (number_chars()), and lets the summary wrap only between words. Nothing loads from outside:
anywidget sends both files through the widget's own comm.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

from ..scenario import GEOMETRIES

HERE = Path(__file__).parent
MIN_PX = 480  # narrower than this, the grids get too thin to read: the picture is scaled down instead
ROUND_PX = 10  # widths are rounded down to this, so a few pixels of difference reuse one drawing


def number_chars() -> int:
    """Characters in the longest value a number box can hold: the largest length (a whole address space,
    TASK_SIZE) or address, in hex, over every geometry the engine offers."""
    return max(len(f"{geometry().task_size:#x}") for geometry in GEOMETRIES.values())


def stylesheet() -> str:
    """explorer.css, with the number boxes' width filled in from the geometries."""
    return (HERE / "explorer.css").read_text().replace("NUMBER_CHARS", str(number_chars() + 1))


def drawing_px(available: int, largest: int) -> int:
    """The width in pixels to draw a picture at, given the width a front end measured (0: none measured yet).

    Never wider than `largest` (the size the drawing was designed for), never narrower than MIN_PX."""
    if available <= 0:
        return largest
    return max(MIN_PX, min(largest, available // ROUND_PX * ROUND_PX))


class WidthProbe(anywidget.AnyWidget):
    """A zero-height widget that reports the width its container gives it (`width`, CSS pixels)."""

    _esm = HERE / "probe.js"
    _css = stylesheet()
    width = traitlets.Int(0).tag(sync=True)
