"""Accessibility for pagemove's widgets: names, states, alt text and announcements (WCAG 2.1 AA).

ipywidgets 8 gives a Text or a Dropdown a name from its description, but not everything a screen reader
or a keyboard needs: a slider's handle (a noUi element with role="slider") has no name, a ToggleButtons
group has no group name and tells the chosen button by a CSS class only, an Image has no alt text, and
nothing is announced. In JupyterLab the notebook's shortcuts also take the arrow keys from a focused
button or dropdown. This sub-package fills those gaps with one small front-end module shipped with the
package, a11y.js (with a11y.css), run by anywidget: nothing is fetched, no build step.

    from pagemove.a11y import Accessibility
    a11y = Accessibility(label="pagemove explorer")
    a11y.name(slider, "old address, in pages")     # the slider handle's accessible name
    a11y.name(toggles, "Linux version")            # a radio group with aria-checked buttons
    a11y.picture(image)                            # the <img> whose alt text a11y.alt holds
    box = a11y.around([...children])               # the VBox that a11y.js makes accessible
    a11y.alt = "..."; a11y.announce("Step 2: ...")

contrast(fg, bg) is WCAG's contrast ratio; the tests compute every text colour pagemove uses with it.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import ipywidgets as W
import traitlets

HERE = Path(__file__).parent
ROOT_CLASS = "pagemove-a11y"  # the box a11y.js works inside
PICTURE_CLASS = "pagemove-picture"

# Text colours of the widgets, each at least 4.5:1 on white (tests/test_a11y.py computes the ratios).
ERROR_TEXT = "#b00020"  # "Cannot move: ..." (7.3:1)
STALE_TEXT = "#595959"  # text that describes the last good move, not the boxes' values (7.0:1)
FOCUS = "#1f4e9e"  # a11y.css's focus outline (7.9:1 on white; at least 3:1 is required)


class Accessibility(anywidget.AnyWidget):
    """An invisible widget inside an explorer's box: it names the controls, keeps the alt text of the
    picture, announces changes (a polite aria-live region) and keeps key presses on the controls."""

    _esm = HERE / "a11y.js"
    _css = HERE / "a11y.css"
    label = traitlets.Unicode("").tag(sync=True)  # the name of the whole box (a region landmark)
    names = traitlets.List().tag(sync=True)  # [css class, accessible name] for each named control
    alt = traitlets.Unicode("").tag(sync=True)  # the picture's alt text
    announcement = traitlets.Unicode("").tag(sync=True)  # what the live region says

    def __init__(self, label: str, **kwargs):
        super().__init__(label=label, **kwargs)
        self.add_class("pagemove-a11y-holder")  # out of the layout (a11y.css)
        self.named = {}  # widget -> the accessible name given to it

    def name(self, widget, name: str) -> None:
        """Give `widget` (a slider, a ToggleButtons, a text box) the accessible name `name`."""
        cls = f"pagemove-name-{len(self.names)}"
        widget.add_class(cls)
        self.names = [*self.names, [cls, name]]
        self.named[widget] = name

    def picture(self, image) -> None:
        """Mark the Image whose alt text is `alt`."""
        image.add_class(PICTURE_CLASS)

    def around(self, children, **kwargs) -> W.VBox:
        """A VBox of `children` and this widget: the box a11y.js makes accessible."""
        box = W.VBox([*children, self], **kwargs)
        box.add_class(ROOT_CLASS)
        return box

    def announce(self, message: str) -> None:
        """Have screen readers say `message` (politely: after what they are reading)."""
        self.announcement = message


def no_null_titles(widgets) -> None:
    """ipywidgets 8 writes a described control's tooltip into its label's title, "null" when there is none:
    give every described widget without a tooltip an empty one."""
    for w in widgets:
        if getattr(w, "description", "") and getattr(w, "tooltip", "") is None:
            w.tooltip = ""


def luminance(colour) -> float:
    """WCAG 2.1's relative luminance of a colour ("#rrggbb", "#rgb", or an RGB(A) tuple of floats 0..1)."""
    if isinstance(colour, str):
        h = colour.lstrip("#")
        h = "".join(c * 2 for c in h) if len(h) == 3 else h
        rgb = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    else:
        rgb = list(colour[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg, bg) -> float:
    """WCAG 2.1's contrast ratio of two colours, 1 to 21 (text needs 4.5, a focus outline 3)."""
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)
