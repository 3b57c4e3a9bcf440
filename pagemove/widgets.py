"""The explorer: change a move with sliders and buttons, see its page tables and replay it step by step.

    from pagemove.widgets import MoveExplorer
    ex = MoveExplorer(preset="c-overlap")   # display `ex` in a notebook to get the widget
    ex.set(kernel="6.7")                    # what clicking the 6.7 button does
    print(ex.summary, ex.error)

The explorer holds no logic of its own: scenario.simulate() runs the move, plot.draw_move() draws it
and text.summary() describes it. Widgets only collect values. Every control, and set(), goes through
the same observers, so a test that sets values sees exactly what a learner sees.

Bad input never raises: the reason appears in the widget (and in `ex.error`), and the last good
picture stays. One matplotlib Figure is reused for every update, so memory does not grow.
"""

from __future__ import annotations

import asyncio
import html
import operator
from contextlib import ExitStack, contextmanager

import ipywidgets as W

from . import text
from .a11y import ERROR_TEXT, STALE_TEXT, Accessibility, no_null_titles
from .ahead import Ahead, Kept
from .fit import WidthProbe, drawing_px
from .numbers import ACCEPTED, NumberError, parse_number
from .plot import DPI as plot_dpi  # pagemove.plot loads matplotlib only inside its functions
from .plot import WIDTH as plot_width
from .presets import PRESETS, twin
from .scenario import GEOMETRIES as ENGINE_GEOMETRIES
from .scenario import geometry_of, simulate

KERNELS = ("6.6", "6.7")
MODES = (("mremap", False), ("execve stack shift", True))
CUSTOM = ""  # the preset dropdown's value once the learner has changed something a preset fixes
THP_LABEL = "THP (huge pages)"
CUSTOM_ABOUT = "<b>Custom move</b>: pick a case to start again from one of the seed's examples."
ADDRESS_FIELDS = ("old", "new", "length")
LABELS = {"old": "old", "new": "new", "length": "len"}  # what the text boxes say
HINT = f"Type {ACCEPTED}. A box applies on Enter or Tab."
SLIDER_PMDS = 32  # an address slider spans 32 PMDs around its value: 64 MiB on x86-64, 1 MiB on tiny
CACHE_SIZE = 32  # PNGs kept per explorer (~40 KB each): flipping the kernel or replaying steps is instant
MOVES_KEPT = 8  # simulated moves kept: flipping back to a kernel neither simulates nor draws again
PRESENTER_WIDTH = 5.9  # figure inches at most: the right column at 1024x768 (a notebook cell is plot.WIDTH)
PRESENTER_HEIGHT = 4.2  # inches at most, so controls, picture and summary fit a 768-pixel-high projector
SUMMARY_LINES, SUMMARY_CHARS = 7, 88  # presenter: lines the summary box shows; characters a line holds
FOLLOW_UP = 0.03  # seconds between a new picture and the other widgets' updates (_follow_later)
STALE = f"2px dashed {ERROR_TEXT}"  # the border of a picture that no longer matches the boxes
# What the explorer's controls are called for a screen reader (ipywidgets names text boxes and dropdowns itself).
SPOKEN = {"geometry": "geometry", "mode": "mode", "kernel": "Linux version", "step": "after step",
          "old": "old address, in pages", "new": "new address, in pages", "length": "length, in pages"}


def geometry_choices() -> list[tuple[str, str]]:
    """(button label, name) of every geometry the engine offers (pagemove.scenario.GEOMETRIES, read when an
    explorer is built): "arm64_64k" -> "arm64 64K", "i386_pae" -> "i386 PAE"."""
    return [(n.replace("x86_64", "x86-64").replace("_5level", " 5-level").replace("_", " ").replace("k", "K")
             .replace("pae", "PAE"), n) for n in ENGINE_GEOMETRIES]


def fit_width(labels, label_px: int = 80) -> str:
    """A CSS width for a Dropdown whose description is label_px wide, so its longest choice is not cut off."""
    longest = max((len(str(x)) for x in labels), default=8)
    return f"calc({label_px}px + {longest}ch + 3em)"


class MoveExplorer:
    """Controls for one move (old, new, length, kernel, mode, geometry, preset, step) and what it does.

    presenter=True lays the explorer out for a projector (1024x768): controls and the step replay on the
    left, the picture on the right, the summary across the bottom, all visible without scrolling.
    """

    def __init__(self, old=None, new=None, length=None, kernel=None, stack=None, geometry=None,
                 preset=None, *, cache_size: int = CACHE_SIZE, presenter: bool = False):
        self.result = None  # the last MoveResult that simulated without error
        self._result_key = None  # the values and blockers it was simulated from
        self.error = ""  # why the current values cannot be simulated ("" when they can)
        self.summary = ""  # text.summary(result)
        self.presenter = presenter
        self._fig = None  # the one Figure every update draws into
        self._pngs = Kept(cache_size)  # (values, blockers, step, width) -> PNG bytes; 0: draw every time
        self._moves = Kept(min(cache_size, MOVES_KEPT))  # (values, blockers) -> (MoveResult, summary)
        self._ahead = Ahead()  # draws the likely next pictures while the kernel waits (pagemove.ahead)
        self._quiet = 0  # > 0 while the explorer itself writes widget values: observers stand still
        self._batch = 0  # > 0 inside set(): observers record values, one simulation runs at the end
        self._blockers = ()  # the preset's other mappings; dropped once the learner edits the layout
        self._values = {}
        self._bad = {}  # box name -> its text, for every box whose text does not parse: nothing simulates
        self._dirty = False  # a change arrived inside a batch: simulate when it ends
        self._holding = False  # inside _picture_first(): the other widgets hold their updates
        self._sentence_text = ""
        self._build()
        given = {"old": old, "new": new, "length": length, "kernel": kernel, "stack": stack, "geometry": geometry}
        # The preset first, then what the caller changed: exactly as a learner would click.
        self.set(preset=preset or "c-overlap", **{k: v for k, v in given.items() if v is not None})

    # ---- public --------------------------------------------------------------------------------

    def set(self, **values) -> None:
        """Change controls as a learner would (preset, geometry, stack/mode, kernel, old, new, length/len, step).

        Addresses may be ints or strings in the one number grammar (0x1fff000, 4096, 2M, 2M+4K), exactly as
        typed into the boxes. Nothing raises: bad values show up in `error`. Returns None, so `ex.set(...)`
        at the end of a notebook cell does not display the explorer a second time.
        """
        if "len" in values:
            values["length"] = values.pop("len")
        if "mode" in values:  # the mode buttons' words, or stack=True/False
            mode = values.pop("mode")
            values["stack"] = {"mremap": False, "stack": True, "execve": True,
                               "execve stack shift": True}.get(mode, mode)
        unknown = set(values) - {"preset", "geometry", "stack", "kernel", "thp", *ADDRESS_FIELDS, "step"}
        if unknown:
            self._show_error(f"unknown control(s): {', '.join(sorted(unknown))}")
            return
        with self._picture_first():
            with self._batched():
                for name in ("preset", "geometry", "stack", "kernel", "thp", *ADDRESS_FIELDS):
                    if name in values:
                        self._set_control(name, values[name])
            if "step" in values:
                self._set_control("step", values["step"])

    @property
    def step(self) -> int:
        """How many loop steps of the move the picture shows (0 = before the loop; k = after step k)."""
        return self.step_slider.value

    @property
    def steps(self) -> int:
        """How many steps the current move has (len(result.events))."""
        return len(self.result.events) if self.result else 0

    @property
    def sentence(self) -> str:
        """One sentence for the current step: what happened and why."""
        return self._sentence_text

    @property
    def values(self) -> dict:
        """The values the controls hold now: ints, or the text of a box that does not parse (see `error`)."""
        return dict(self._values)

    @property
    def current(self) -> bool:
        """Does the picture show what the controls say? False while an error is shown."""
        return not self.error and self.result is not None

    def close(self) -> None:
        """Close this explorer's widgets (the figure goes with the explorer)."""
        for w in self._all_widgets():
            w.close()
        self._fig = None

    def _all_widgets(self):
        """The container and every widget inside it."""
        todo, seen = [self.widget], []
        while todo:
            w = todo.pop()
            seen.append(w)
            todo += list(getattr(w, "children", ()))
        return seen

    def _repr_mimebundle_(self, **kwargs):
        return display_bundle(self.widget, repr(self), **kwargs)

    def __repr__(self) -> str:
        v = self._values
        mode = "stack" if v.get("stack") else "mremap"
        return (f"MoveExplorer({self.preset.value or 'custom'}: {mode} {_hex(v.get('old'))} -> "
                f"{_hex(v.get('new'))} len {_hex(v.get('length'))}, Linux {v.get('kernel')}, "
                f"{v.get('geometry')}{', THP' if v.get('thp') else ''}, step {self.step}/{self.steps})")

    # ---- building the widgets ----------------------------------------------------------------------

    def _build(self) -> None:
        """Create the controls and outputs and wire every control to _changed()."""
        cases = [("custom", CUSTOM)] + [(f"{n}: {p.title}", n) for n, p in PRESETS.items()]
        self.preset = W.Dropdown(options=cases, description="case",
                                 layout=W.Layout(width=fit_width(label for label, _ in cases)))
        geometries = geometry_choices()
        label = {"description_width": "5.5em"} if self.presenter else {}
        row = {"display": "flex"}  # the description beside its buttons, not above them (Voila's CSS stacks them)
        widest = max(len(label) for label, _ in geometries)
        self.geometry = W.ToggleButtons(options=geometries, description="geometry", layout=W.Layout(**row),
                                        style={"button_width": f"{widest + 3}ch", **label})
        self.thp = W.Checkbox(value=False, description=THP_LABEL, indent=False, layout=W.Layout(width="11em"))
        self.mode = W.ToggleButtons(options=MODES, description="mode", layout=W.Layout(**row),
                                    style={"button_width": "9.5em" if self.presenter else "11em", **label})
        self.kernel = W.ToggleButtons(options=KERNELS, description="Linux", layout=W.Layout(**row),
                                      style={"button_width": "4em", **label})
        self.texts, self.sliders = {}, {}
        narrow = {"description_width": "3.2em"} if self.presenter else {}  # box and slider share the 28em column
        for name, label in LABELS.items():
            self.texts[name] = W.Text(description=label, continuous_update=False, placeholder="e.g. 0x1fff000 or 2M",
                                      tooltip=HINT, style=narrow)  # as wide as the longest value (explorer.css)
            self.texts[name].add_class("pagemove-number")
            self.sliders[name] = W.IntSlider(min=0, max=1, continuous_update=False, readout=False,
                                             description="pages", style=narrow)  # width: explorer.css
        self.hint = W.HTML(_block(html.escape(HINT), "0.85em"))
        self.step_slider = W.IntSlider(min=0, max=0, continuous_update=False, description="after step",
                                       style={"description_width": "5.5em"})
        self.step_total = W.Label()  # "of n": the slider reads "after step k of n"
        self.about = W.HTML()
        self.error_line = W.HTML()
        # Drawn as wide as the space the front end measured (the probe), and shown at that pixel size, so
        # nothing is scaled; narrower than pagemove.fit.MIN_PX it is scaled down, keeping its shape.
        self.probe = WidthProbe()
        self.image = W.Image(format="png", layout=W.Layout(width=f"{self._drawing_px()}px", max_width="100%",
                                                           height="auto", flex="0 0 auto"))
        self.picture = W.VBox([self.probe, self.image], layout=W.Layout(flex="1 1 auto", min_width="0"))
        self.step_line = W.HTML()
        self.summary_box = W.HTML()
        self._accessible()

        self.preset.observe(self._on("preset"), names="value")
        self.geometry.observe(self._on("geometry"), names="value")
        self.mode.observe(self._on("stack"), names="value")
        self.kernel.observe(self._on("kernel"), names="value")
        self.thp.observe(self._on("thp"), names="value")
        for name in ADDRESS_FIELDS:
            self.texts[name].observe(self._on(name, "text"), names="value")
            self.sliders[name].observe(self._on(name, "slider"), names="value")
        self.step_slider.observe(self._on("step"), names="value")
        self.probe.observe(self._on_width, names="width")

        rows = [W.HBox([self.texts[n], self.sliders[n]]) for n in ADDRESS_FIELDS]
        for row in rows:
            row.add_class("pagemove-address")
        stepper = W.HBox([self.step_slider, self.step_total])
        if self.presenter:
            # Two columns and nothing across the bottom, so no state is taller than the taller column: the
            # controls, the error and the step's sentence on the left; the picture and the summary (at most
            # SUMMARY_LINES, then it scrolls and says so) on the right.
            left = W.VBox([self.geometry, W.HBox([self.kernel, self.thp]), self.mode, *rows, self.hint,
                           self.error_line, stepper, self.step_line], layout=W.Layout(width="28em", flex="0 0 auto"))
            right = W.VBox([self.picture, self.summary_box], layout=W.Layout(flex="1 1 auto", min_width="0"))
            main = W.HBox([left, right], layout=W.Layout(align_items="flex-start"))
            self.widget = self.a11y.around([self.preset, self.about, main])
            self.widget.add_class("pagemove-presenter")
        else:
            toggles = W.HBox([self.geometry, self.mode, self.kernel, self.thp],
                             layout=W.Layout(flex_flow="row wrap"))
            self.widget = self.a11y.around([self.preset, self.about, toggles, *rows, self.hint, self.error_line,
                                            self.picture, stepper, self.step_line, self.summary_box])
        self.widget.add_class("pagemove-explorer")
        self.summary_box.add_class("pagemove-summary")

    def _accessible(self) -> None:
        """Names for the controls ipywidgets leaves unnamed, the picture's alt text, the live region (pagemove.a11y)."""
        self.a11y = Accessibility(label="pagemove explorer: " + ("presenter" if self.presenter else "move explorer"))
        for name in ("geometry", "mode", "kernel"):
            self.a11y.name(getattr(self, name), SPOKEN[name])
        for name in ADDRESS_FIELDS:
            self.a11y.name(self.sliders[name], SPOKEN[name])
        self.a11y.name(self.step_slider, SPOKEN["step"])
        self.a11y.picture(self.image)
        no_null_titles([self.preset, self.geometry, self.mode, self.kernel, self.thp, self.step_slider,
                        *self.texts.values(), *self.sliders.values()])

    def _drawing_px(self) -> int:
        """How wide to draw the picture, in pixels: the width the front end measured, within limits."""
        largest = round((PRESENTER_WIDTH if self.presenter else plot_width) * plot_dpi)
        return drawing_px(self.probe.width, largest)

    def _on_width(self, change) -> None:
        """The front end measured the space for the picture: draw it that wide (when that changes the drawing)."""
        px = self._drawing_px()
        if self.image.layout.width != f"{px}px":
            self.image.layout.width = f"{px}px"
            self._draw_picture()  # only the picture: the step's sentence, alt text and any error stay

    def _on(self, name: str, source: str = "control"):
        """The observer for one control: ignore the explorer's own writes, pass the rest on."""
        def observer(change):
            if not self._quiet:
                with self._picture_first():
                    self._changed(name, change["new"], source)
        return observer

    @contextmanager
    def _picture_first(self):
        """Every widget but the picture holds its updates until the change is handled: the new image is the
        first message the front end gets, and the rest follow, one per widget (FOLLOW_UP seconds later when
        the change came from the front end: _follow_later).

        A person waits for the picture. In JupyterLab each earlier message (the summary, the sliders, the
        step's sentence) was handled before the image's arrived, and re-rendering them right after it
        delayed its decoding and painting: together tens of milliseconds on a 2-CPU machine (make bench)."""
        if self._holding:
            yield
            return
        self._holding = True
        held = [w for w in self._all_widgets() if w is not self.image]
        picture = self.image.value
        try:
            with ExitStack() as stack:
                for w in held:
                    stack.enter_context(w.hold_sync())
                try:
                    yield
                finally:
                    if self.image.value is not picture:
                        self._follow_later(held)
        finally:
            self._holding = False

    def _follow_later(self, held) -> None:
        """A new picture went out: send the other widgets' held updates FOLLOW_UP seconds later (on the kernel's
        event loop), so the front end decodes and paints the picture before it re-renders the rest."""
        if not _answering_the_front_end():
            return  # a cell's code (or a script, a test): they go now, as hold_sync() sends them
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        # ipywidgets keeps what hold_sync() holds in _states_to_send (pinned 8.1.9; tests/test_widgets.py
        # would see a change): take it, so the hold's end sends nothing, and send it FOLLOW_UP seconds later.
        pending = {w: set(w._states_to_send) for w in held if w._states_to_send}
        for w in pending:
            w._states_to_send.clear()

        def follow():
            for w, keys in pending.items():
                w.send_state(keys)  # their values then: a change since then is not undone

        loop.call_later(FOLLOW_UP, follow)

    # ---- one code path for controls and set() -----------------------------------------------------

    def _set_control(self, name: str, value) -> None:
        """Write `value` into the widget for `name`, as a click or a keystroke would."""
        try:
            if name in ADDRESS_FIELDS:
                if isinstance(value, str):  # typed text: the box's observer reads it with the one grammar
                    self.texts[name].value = value
                else:
                    self.texts[name].value = _hex(_as_int(value, f"{name} (or a string such as 0x1fff000 or 2M)"))
            elif name == "step":
                self.step_slider.value = _as_int(value, "step")
            elif name == "stack":
                if not isinstance(value, bool):
                    raise ValueError(f"must be True (execve stack shift) or False (mremap), got {value!r}")
                self.mode.value = value
            elif name == "thp":
                if not isinstance(value, bool):
                    raise ValueError(f"must be True (THP-eligible: huge pages) or False, got {value!r}")
                self.thp.value = value
            else:
                widget = getattr(self, name)
                value = {"x86-64": "x86_64"}.get(value, value)
                choices = [v for _, v in widget.options] if name != "kernel" else list(widget.options)
                if value not in choices:
                    raise ValueError(f"{value!r} is not one of {', '.join(repr(c) for c in choices if c)}")
                widget.value = value
        except ValueError as e:
            self._show_error(f"{name}: {e}")

    def _changed(self, name: str, value, source: str) -> None:
        """A control changed: record the value, keep the twin control in sync, then recompute."""
        if name == "step":
            self._render()
            return
        if name == "preset":
            if value != CUSTOM:
                self._apply_preset(value)
            else:  # the learner picked "custom": the move stays, the old case's description goes
                self.about.value = _block(CUSTOM_ABOUT)
            return
        if name in ADDRESS_FIELDS:
            if source == "text":
                try:
                    value = parse_number(value, LABELS[name])
                except ValueError:
                    self._bad[name] = self._values[name] = value  # the box's text: nothing simulates with
                    self._mark_custom()                            # an older value of it
                    self._recompute()
                    return
            else:
                value *= self._geo().page_size
            self._bad.pop(name, None)
            self._values[name] = value
            self._sync_address(name, recentre=source == "text")
            self._mark_custom()
        elif name == "geometry":
            before = self._geo()
            self._values["geometry"] = value
            name_twin = twin(self.preset.value, value) if self.preset.value != CUSTOM else None
            if name_twin:  # the same teaching case, scaled to the other geometry; the kernel stays
                self._apply_preset(name_twin, keep_kernel=True)
                return
            self._carry_over(before, self._geo())
        elif name == "stack":
            self._values["stack"] = value
            self._mark_custom()
            self._sync_all_addresses(recentre=True)
        else:
            self._values[name] = value
        self._recompute()

    def _carry_over(self, src, dst) -> None:
        """A geometry switch on a custom move: the same move in PMD units (see carry_over()), sliders re-centred."""
        good = {n: self._values[n] for n in ADDRESS_FIELDS if n not in self._bad and n in self._values}
        moved, self._blockers = carry_over(good, self._blockers, src, dst)
        self._values.update(moved)
        if self.preset.value != CUSTOM:  # no twin of this case in that geometry: a custom move now
            with self._quietly():
                self.preset.value = CUSTOM
            self.about.value = _block("<b>Custom move</b>: the case carried over in PMD units (same offsets "
                                      "inside their PMDs, same number of PMDs).")
        self._sync_all_addresses(recentre=True)

    def _apply_preset(self, name: str, keep_kernel: bool = False) -> None:
        """Load a preset into every control at once; one simulation."""
        p = PRESETS[name]
        values = p.values
        if keep_kernel and self._values.get("kernel"):
            values["kernel"] = self._values["kernel"]
        self._values.update(values)
        self._bad.clear()
        self._blockers = p.blockers
        with self._quietly():
            self.preset.value = name
            self.geometry.value = p.geometry
            self.mode.value = p.stack
            self.kernel.value = values["kernel"]
            self.thp.value = p.thp
        self._sync_all_addresses(recentre=True)
        self.about.value = _block(f"<b>{html.escape(p.title)}</b><br>{html.escape(p.description)}",
                                  "0.9em" if self.presenter else "")
        self._recompute()

    def _mark_custom(self) -> None:
        """The layout no longer is the preset's: say so, and drop the preset's other mappings."""
        if self.preset.value != CUSTOM:
            with self._quietly():
                self.preset.value = CUSTOM
            self._blockers = ()
            self.about.value = _block(CUSTOM_ABOUT)

    # ---- text boxes and sliders in sync -----------------------------------------------------------------

    def _geo(self):
        return geometry_of(self._values.get("geometry", "x86_64"))

    def _sync_all_addresses(self, recentre: bool) -> None:
        for name in ADDRESS_FIELDS:
            self._sync_address(name, recentre)

    def _sync_address(self, name: str, recentre: bool) -> None:
        """Show the value of `name` in its text box and on its slider, without echoing back.

        A slider spans SLIDER_PMDS PMDs around its value, so one pixel is a few pages and the PMD
        boundaries are within reach. The window moves only when asked (a typed value, a preset, a
        geometry or mode switch) or when the value left it, never under the learner's mouse. A box whose
        text does not parse keeps that text: it is what the error is about.
        """
        value = self._values.get(name)
        if value is None or name in self._bad:
            return
        geo = self._geo()
        ps, slider = geo.page_size, self.sliders[name]
        pages, total, span = value // ps, geo.task_size // ps, SLIDER_PMDS * geo.pmd_size // ps
        if recentre or not slider.min <= pages <= slider.max:
            lo, hi = slider_window(name, pages, total, span, geo.pmd_size // ps)
            with self._quietly():
                if lo > slider.max:  # keep min <= max at every moment
                    slider.max, slider.min = hi, lo
                else:
                    slider.min, slider.max = lo, hi
        with self._quietly():
            self.texts[name].value = _hex(value)
            slider.value = min(max(pages, slider.min), slider.max)

    # ---- simulate, draw, describe ---------------------------------------------------------------------

    def _recompute(self) -> None:
        """Simulate what the boxes show; on success show the new move, otherwise the reason."""
        if self._batch:
            self._dirty = True
            return
        if self._bad:  # a box that does not parse: say so about its current text; never use an older value
            reasons = []
            for name, typed in self._bad.items():
                try:
                    parse_number(typed, LABELS[name])
                except NumberError as e:
                    reasons.append(e.reason)
            self._show_error(f"{'; '.join(reasons)}; write {ACCEPTED}")  # the accepted forms once
            return
        v = self._values
        self._ahead.cancel()  # a change arrived: nothing drawn ahead for the old values is wanted first
        try:
            key, (result, summary) = self._simulated(v)
        except (OSError, ValueError) as e:
            self._show_error(_reason(e, thp_stack=v["stack"] and v.get("thp", False)))
            return
        self.result, self.error = result, ""
        # What this result was simulated from: the PNG cache's key. Not the controls' values, which may
        # change (THP, blockers) while a broken box keeps this result on screen.
        self._result_key = key
        self.error_line.value = ""
        self._mark_current(True)
        self.summary = summary
        self._show_summary()
        n = len(result.events)
        with self._quietly():
            self.step_slider.max = n
            self.step_slider.value = n
        self.step_total.value = f"of {n}"
        self._render()

    def _show_summary(self) -> None:
        # Wrapped between words only (JupyterLab's output CSS would break inside "len" or a number); a line
        # too long for the width scrolls.
        style = ("margin:0;font-family:var(--jp-code-font-family,monospace);white-space:pre-wrap;"
                 "word-break:normal;overflow-wrap:normal;overflow-x:auto")
        head = [f"<span style='color:{ERROR_TEXT}'>(the last good move, not the boxes' values)</span>"] if self.error else []
        if self.presenter:  # at most SUMMARY_LINES on a projector; a longer summary scrolls, and says so
            style += f";font-size:11px;line-height:1.25;max-height:{SUMMARY_LINES * 1.25}em;overflow-y:auto"
            lines = sum(1 + len(line) // SUMMARY_CHARS for line in self.summary.splitlines())
            if lines > SUMMARY_LINES:
                head.append(f"<span style='font-size:0.85em'>Summary: {lines} lines, the box shows "
                            f"{SUMMARY_LINES}; scroll inside it for the rest.</span>")
        if self.error:
            style += f";color:{STALE_TEXT}"
        head = f"<div style='line-height:1.35'>{' '.join(head)}</div>" if head else ""
        # A box that can scroll must be reachable by keyboard (WCAG 2.1.1): a named Tab stop.
        self.summary_box.value = (f"{head}<pre tabindex='0' role='region' aria-label='summary of the move' "
                                  f"style='{style}'>{html.escape(self.summary)}</pre>")

    def _render(self) -> None:
        """Draw the last good move at the current step into the one figure, and say what that step did."""
        r = self.result
        if r is None:
            return
        k = self.step_slider.value
        self._sentence_text = text.step_sentence(r, k)
        self.step_line.value = _block(html.escape(self._sentence_text))
        self._draw_picture()
        self.a11y.alt = text.picture_alt(r, k)
        self.a11y.announce(self._sentence_text)

    def _draw_picture(self) -> None:
        """The picture of the last good move at the current step, and the pictures worth drawing ahead."""
        r, k = self.result, self.step_slider.value
        if r is None:
            return
        self.image.value = self._png(r, None if k == len(r.events) else k)
        self._draw_ahead(k)

    def _simulated(self, values: dict, blockers=None):
        """(key, (MoveResult, summary)) of a move: kept from before, or simulated now (engine errors raise)."""
        v, blockers = values, self._blockers if blockers is None else blockers
        key = (tuple(sorted(v.items())), blockers)

        def run():
            result = simulate(v["old"], v["new"], v["length"], kernel=v["kernel"], stack=v["stack"],
                              geometry=v["geometry"], blockers=blockers, thp=v.get("thp", False))
            return result, text.summary(result)

        return key, self._moves.get(key, run)

    def _png(self, result, step, result_key=None) -> bytes:
        """The PNG of the move at `step`: from the cache, or drawn into the reused figure and encoded."""
        px = self._drawing_px()
        return self._pngs.get((result_key or self._result_key, step, px), lambda: self._draw(result, step, px))

    def _draw(self, result, step, px) -> bytes:
        from . import plot  # matplotlib loads with the first drawing, not with the widget module

        # One pyplot-free Figure, cleared and reused; the sentence and the WARN line are widgets beside it.
        height = PRESENTER_HEIGHT if self.presenter else None
        self._fig = plot.draw_move(result, step=step, fig=self._fig, caption=False, width=px / plot_dpi,
                                   max_height=height, for_png=True)
        return plot.render_png(self._fig)

    def _draw_ahead(self, k: int) -> None:
        """While the kernel waits: draw the other kernel's picture, then the steps either side of k."""
        if not self._pngs.size or self.result is None:
            return
        result, key, n = self.result, self._result_key, len(self.result.events)
        values, blockers = dict(key[0]), key[1]  # what the shown move was simulated from (a box may be broken now)

        def other_kernel():
            other = dict(values, kernel=KERNELS[1 - KERNELS.index(values["kernel"])])
            try:
                other_key, (other_result, _) = self._simulated(other, blockers)
            except (OSError, ValueError):  # the other kernel refuses this move: the click will say why
                return
            self._png(other_result, None, other_key)

        jobs = [other_kernel] if values.get("kernel") in KERNELS else []
        jobs += [lambda s=s: self._png(result, None if s == n else s, key) for s in (k - 1, k + 1) if 0 <= s <= n]
        self._ahead.plan(jobs)

    def _show_error(self, reason: str) -> None:
        """Show why the values cannot be simulated; keep the last good picture, marked as not current."""
        self.error = reason
        kept = " The picture (dashed border) still shows the last good move, not these values." if self.result else ""
        self.error_line.value = _block(f"<b>Cannot move:</b> {html.escape(reason)}.{kept}", color=ERROR_TEXT)
        self._mark_current(False)
        self.a11y.announce(f"Cannot move: {reason}.{kept}")
        if self.result is not None:
            self._show_summary()

    def _mark_current(self, current: bool) -> None:
        """A dashed red border and a greyed sentence while the picture is not what the boxes say."""
        self.image.layout.border = None if current else STALE
        if not current and self._sentence_text:
            self.step_line.value = _block(html.escape(self._sentence_text), color=STALE_TEXT)
        if not current and self.result is not None:
            self.a11y.alt = f"The last good move, not the boxes' values. {text.picture_alt(self.result, self.step)}"

    # ---- batching -----------------------------------------------------------------------------------------

    @contextmanager
    def _quietly(self):
        """The explorer writes widget values: observers ignore them."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    @contextmanager
    def _batched(self):
        """Several controls change (set(), presets): simulate once at the end."""
        self._batch += 1
        self._dirty = False
        try:
            yield
        finally:
            self._batch -= 1
        if not self._batch and self._dirty:
            self._recompute()


# ---- helpers ------------------------------------------------------------------------------------------

def _answering_the_front_end() -> bool:
    """Is the kernel handling a message from the front end (a click or a key: a widget's comm_msg)?

    Not when a cell runs: a notebook saved by nbconvert (or nbval, or Voila building its page) keeps the
    widget state of the messages sent before the cell ended, so those must not wait."""
    try:
        from IPython import get_ipython

        return get_ipython().kernel.get_parent()["header"]["msg_type"] == "comm_msg"
    except Exception:  # no IPython, no kernel, no parent message: not a front end's message
        return False


def display_bundle(widget, text: str, **kwargs) -> dict:
    """What Jupyter shows for an object wrapping `widget`: the widget, with a short text/plain.

    The container's own repr lists every child (the PNG bytes included), which nbval would compare."""
    bundle = widget._repr_mimebundle_(**kwargs)
    if isinstance(bundle, tuple):
        bundle = bundle[0]
    return {**bundle, "text/plain": text}


def _block(content: str, size: str = "", color: str = "") -> str:
    """HTML for a paragraph in a widget: ordinary line spacing (an HTML widget's own is a control's 28 px)."""
    style = "line-height:1.35;margin:2px 0" + (f";font-size:{size}" if size else "") + (f";color:{color}" if color else "")
    return f"<div style='{style}'>{content}</div>"


def slider_window(name: str, pages: int, total: int, span: int, per_pmd: int) -> tuple[int, int]:
    """(min, max) in pages of the slider for `name`: a window of `span` pages centred on the value."""
    if name == "length":  # 1 .. twice the length, at least a window
        return 1, min(total, max(span, 2 * pages))
    lo = max(0, pages - span // 2) // per_pmd * per_pmd  # starting on a PMD boundary
    hi = min(total - 1, lo + span - 1)
    return max(0, hi - span + 1), hi


def _in_pmd(offset: int, n_src: int, n_dst: int) -> int:
    """A page offset inside a PMD of n_src pages, carried to one of n_dst: its distance from the nearer
    boundary is kept (one page below a boundary stays one page below), as far as the smaller PMD allows."""
    if 2 * offset <= n_src:
        return min(offset, n_dst // 2)
    return n_dst - min(n_src - offset, n_dst // 2)


def carry_over(addresses: dict, blockers, src, dst) -> tuple[dict, tuple]:
    """The same move in geometry `dst`, in PMD units: every address keeps its PMD number and its page offset
    inside the PMD (see _in_pmd), the length its number of PMDs and its remainder; blockers move alike.

    If that leaves the address space of `dst`, everything shifts down by the same number of PMDs (so the
    distance between old and new in PMDs stays), when that makes it fit. Returns (addresses, blockers).
    """
    n_src, n_dst = src.pmd_size // src.page_size, dst.pmd_size // dst.page_size

    def address(a):
        return a // src.pmd_size * dst.pmd_size + _in_pmd(a % src.pmd_size // src.page_size, n_src, n_dst) * dst.page_size

    def length(n):
        pages = n // src.page_size
        carried = pages // n_src * dst.pmd_size + _in_pmd(pages % n_src, n_src, n_dst) * dst.page_size
        return max(carried, dst.page_size)

    out = {k: (length(v) if k == "length" else address(v)) for k, v in addresses.items()}
    moved = tuple((address(s), length(n)) for s, n in blockers)
    starts = [out[k] for k in ("old", "new") if k in out] + [s for s, _ in moved]
    top = max([out.get("old", 0), out.get("new", 0)]) + out.get("length", 0)
    top = max([top] + [s + n for s, n in moved])
    if starts and top > dst.task_size:
        shift = max(0, min(starts) // dst.pmd_size - 4) * dst.pmd_size  # the lowest lands 4 PMDs up
        if top - shift <= dst.task_size:  # else it cannot fit at all: keep the PMD numbers (and the way back)
            out = {k: v if k == "length" else v - shift for k, v in out.items()}
            moved = tuple((s - shift, n) for s, n in moved)
    return out, moved


def _hex(value) -> str:
    if isinstance(value, str):  # the text of a box that does not parse
        return repr(value)
    return "?" if value is None else f"{value:#x}"


def _as_int(value, name: str) -> int:
    """An integer (numpy integers too), or a ValueError naming the control."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name.split()[0]} must be an int{name[len(name.split()[0]):]}, got {value!r}") from None


def _reason(e: Exception, thp_stack: bool = False) -> str:
    """The message of an engine error, without the errno prefix Python adds; for a huge page in the stack
    (THP ticked in stack mode), what the learner can do in the widget instead of the API's huge_stack=True."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    message = str(e)
    if thp_stack and "huge_stack=True" in message:
        message = message.split("; pass huge_stack=True")[0] + f": untick {THP_LABEL}, or choose mode mremap"
    return message
