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

import html
import io
import operator
from collections import OrderedDict
from contextlib import contextmanager

import ipywidgets as W

from . import text
from .presets import PRESETS, twin
from .scenario import GEOMETRIES as GEOMETRY_NAMES
from .scenario import geometry_of, simulate

KERNELS = ("6.6", "6.7")
MODES = (("mremap", False), ("execve stack shift", True))
# Every geometry of scenario.GEOMETRIES, labelled for a button ("arm64_64k" -> "arm64 64K").
GEOMETRIES = tuple((n.replace("x86_64", "x86-64").replace("_5level", " 5-level").replace("_", " ")
                    .replace("k", "K"), n) for n in GEOMETRY_NAMES)
CUSTOM = ""  # the preset dropdown's value once the learner has changed something a preset fixes
ADDRESS_FIELDS = ("old", "new", "length")
LABELS = {"old": "old", "new": "new", "length": "len"}  # what the text boxes say
SLIDER_PMDS = 32  # an address slider spans 32 PMDs around its value: 64 MiB on x86-64, 1 MiB on tiny
PNG_DPI = 100  # plot.py sizes its figures for 100 dpi: 900 px, the width of a notebook cell
PNG_RC = {"text.hinting": "no_hinting"}  # glyphs without grid fitting: a quarter less time on text, as sharp at 100 dpi
PNG_OPTIONS = {"compress_level": 1}  # zlib level 1: about 10 ms faster than the default, ~20% larger
CACHE_SIZE = 32  # PNGs kept per explorer (~40 KB each): flipping the kernel or replaying steps is instant


class MoveExplorer:
    """Controls for one move (old, new, length, kernel, mode, geometry, preset, step) and what it does."""

    def __init__(self, old=None, new=None, length=None, kernel=None, stack=None, geometry=None,
                 preset=None, *, cache_size: int = CACHE_SIZE):
        self.result = None  # the last MoveResult that simulated without error
        self.error = ""  # why the current values cannot be simulated ("" when they can)
        self.summary = ""  # text.summary(result)
        self._fig = None  # the one Figure every update draws into
        self._pngs = OrderedDict()  # (values, blockers, step) -> PNG bytes, least recently used first
        self._cache_size = cache_size  # 0: draw every time (benchmarks measure that)
        self._quiet = 0  # > 0 while the explorer itself writes widget values: observers stand still
        self._batch = 0  # > 0 inside set(): observers record values, one simulation runs at the end
        self._blockers = ()  # the preset's other mappings; dropped once the learner edits the layout
        self._values = {}
        self._dirty = False  # a change arrived inside a batch: simulate when it ends
        self._sentence_text = ""
        self._build()
        given = {"old": old, "new": new, "length": length, "kernel": kernel, "stack": stack, "geometry": geometry}
        # The preset first, then what the caller changed: exactly as a learner would click.
        self.set(preset=preset or "c-overlap", **{k: v for k, v in given.items() if v is not None})

    # ---- public --------------------------------------------------------------------------------

    def set(self, **values) -> None:
        """Change controls as a learner would (preset, geometry, stack/mode, kernel, old, new, length/len, step).

        Addresses may be ints or hex strings. Nothing raises: bad values show up in `error`. Returns None,
        so `ex.set(...)` at the end of a notebook cell does not display the explorer a second time.
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
        with self._batched():
            for name in ("preset", "geometry", "stack", "kernel", "thp", *ADDRESS_FIELDS):
                if name in values:
                    self._set_control(name, values[name])
        if "step" in values:
            self._set_control("step", values["step"])

    @property
    def step(self) -> int:
        """How many loop steps of the move the picture shows (0 = before the loop)."""
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
        """The values the controls hold now (they may be invalid; see `error`)."""
        return dict(self._values)

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
        self.preset = W.Dropdown(options=[("custom", CUSTOM)] + [(f"{n}: {p.title}", n) for n, p in PRESETS.items()],
                                 description="case", layout=W.Layout(width="34em"))
        self.geometry = W.ToggleButtons(options=GEOMETRIES, description="geometry",
                                        style={"button_width": "7.5em"})
        self.thp = W.Checkbox(value=False, description="THP (huge pages)", indent=False,
                              layout=W.Layout(width="11em"))
        self.mode = W.ToggleButtons(options=MODES, description="mode", style={"button_width": "11em"})
        self.kernel = W.ToggleButtons(options=KERNELS, description="Linux", style={"button_width": "4em"})
        self.texts, self.sliders = {}, {}
        for name, label in LABELS.items():
            self.texts[name] = W.Text(description=label, continuous_update=False, layout=W.Layout(width="16em"))
            self.sliders[name] = W.IntSlider(min=0, max=1, continuous_update=False, readout=False,
                                             description="pages", layout=W.Layout(width="26em"))
        self.step_slider = W.IntSlider(min=0, max=0, continuous_update=False, description="step")
        self.about = W.HTML()
        self.error_line = W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.step_line = W.HTML()
        self.summary_box = W.HTML()

        self.preset.observe(self._on("preset"), names="value")
        self.geometry.observe(self._on("geometry"), names="value")
        self.mode.observe(self._on("stack"), names="value")
        self.kernel.observe(self._on("kernel"), names="value")
        self.thp.observe(self._on("thp"), names="value")
        for name in ADDRESS_FIELDS:
            self.texts[name].observe(self._on(name, "text"), names="value")
            self.sliders[name].observe(self._on(name, "slider"), names="value")
        self.step_slider.observe(self._on("step"), names="value")

        rows = [W.HBox([self.texts[n], self.sliders[n]]) for n in ADDRESS_FIELDS]
        toggles = W.HBox([self.geometry, self.mode, self.kernel, self.thp], layout=W.Layout(flex_flow="row wrap"))
        self.widget = W.VBox([self.preset, self.about, toggles, *rows,
                              self.error_line, self.image, self.step_slider, self.step_line, self.summary_box])

    def _on(self, name: str, source: str = "control"):
        """The observer for one control: ignore the explorer's own writes, pass the rest on."""
        def observer(change):
            if not self._quiet:
                self._changed(name, change["new"], source)
        return observer

    # ---- one code path for controls and set() -----------------------------------------------------

    def _set_control(self, name: str, value) -> None:
        """Write `value` into the widget for `name`, as a click or a keystroke would."""
        try:
            if name in ADDRESS_FIELDS:
                self.texts[name].value = value if isinstance(value, str) else _hex(_as_int(value, f"{name} (or a hex string)"))
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
            return
        if name in ADDRESS_FIELDS:
            if source == "text":
                try:
                    value = _parse_hex(value, LABELS[name])
                except ValueError as e:
                    self._show_error(str(e))
                    return
            else:
                value *= self._geo().page_size
            self._values[name] = value
            self._sync_address(name, recentre=source == "text")
            self._mark_custom()
        elif name == "geometry":
            self._values["geometry"] = value
            name_twin = twin(self.preset.value, value) if self.preset.value != CUSTOM else None
            if name_twin:  # the same teaching case, scaled to the other geometry; the kernel stays
                self._apply_preset(name_twin, keep_kernel=True)
                return
            self._sync_all_addresses(recentre=True)
        elif name == "stack":
            self._values["stack"] = value
            self._mark_custom()
        else:
            self._values[name] = value
        self._recompute()

    def _apply_preset(self, name: str, keep_kernel: bool = False) -> None:
        """Load a preset into every control at once; one simulation."""
        p = PRESETS[name]
        values = p.values
        if keep_kernel and self._values.get("kernel"):
            values["kernel"] = self._values["kernel"]
        self._values.update(values)
        self._blockers = p.blockers
        with self._quietly():
            self.preset.value = name
            self.geometry.value = p.geometry
            self.mode.value = p.stack
            self.kernel.value = values["kernel"]
            self.thp.value = p.thp
        self._sync_all_addresses(recentre=True)
        self.about.value = f"<b>{html.escape(p.title)}</b><br>{html.escape(p.description)}"
        self._recompute()

    def _mark_custom(self) -> None:
        """The layout no longer is the preset's: say so, and drop the preset's other mappings."""
        if self.preset.value != CUSTOM:
            with self._quietly():
                self.preset.value = CUSTOM
            self._blockers = ()
            self.about.value = "<b>Custom move</b>: pick a case to start again from one of the seed's examples."

    # ---- text boxes and sliders in sync -----------------------------------------------------------------

    def _geo(self):
        return geometry_of(self._values.get("geometry", "x86_64"))

    def _sync_all_addresses(self, recentre: bool) -> None:
        for name in ADDRESS_FIELDS:
            self._sync_address(name, recentre)

    def _sync_address(self, name: str, recentre: bool) -> None:
        """Show the value of `name` in its text box and on its slider, without echoing back.

        A slider spans SLIDER_PMDS PMDs around its value, so one pixel is a few pages and the PMD
        boundaries are within reach. The window moves only when asked (a typed value, a preset) or when
        the value left it, never under the learner's mouse.
        """
        value = self._values.get(name)
        if value is None:
            return
        geo = self._geo()
        ps, slider = geo.page_size, self.sliders[name]
        pages, total, span = value // ps, geo.task_size // ps, SLIDER_PMDS * geo.pmd_size // ps
        if recentre or not slider.min <= pages <= slider.max:
            if name == "length":  # 1 .. twice the length, at least a window
                lo, hi = 1, min(total, max(span, 2 * pages))
            else:  # a window centred on the value, starting on a PMD boundary
                lo = max(0, pages - span // 2) // (geo.pmd_size // ps) * (geo.pmd_size // ps)
                hi = min(total - 1, lo + span - 1)
                lo = max(0, hi - span + 1)
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
        """Simulate the current values; on success show the new move, otherwise the reason."""
        if self._batch:
            self._dirty = True
            return
        v = self._values
        try:
            result = simulate(v["old"], v["new"], v["length"], kernel=v["kernel"], stack=v["stack"],
                              geometry=v["geometry"], blockers=self._blockers, thp=v.get("thp", False))
        except (OSError, ValueError) as e:
            self._show_error(_reason(e))
            return
        self.result, self.error = result, ""
        self.error_line.value = ""
        self._sync_all_addresses(recentre=False)  # a box still showing a typo snaps back to the value in use
        self.summary = text.summary(result)
        self.summary_box.value = f"<pre style='max-height:16em;overflow:auto'>{html.escape(self.summary)}</pre>"
        with self._quietly():
            self.step_slider.max = len(result.events)
            self.step_slider.value = len(result.events)
        self._render()

    def _render(self) -> None:
        """Draw the last good move at the current step into the one figure, and say what that step did."""
        r = self.result
        if r is None:
            return
        k = self.step_slider.value
        self._sentence_text = _step_sentence(r, k)
        self.step_line.value = html.escape(self._sentence_text)
        self.image.value = self._png(r, None if k == len(r.events) else k)

    def _png(self, result, step) -> bytes:
        """The PNG of the move at `step`: from the cache, or drawn into the reused figure and encoded."""
        key = (tuple(sorted(self._values.items())), self._blockers, step)
        if key in self._pngs:
            self._pngs.move_to_end(key)
            return self._pngs[key]
        from . import plot  # matplotlib loads with the first drawing, not with the widget module

        # One pyplot-free Figure, cleared and reused; the sentence and the WARN line are widgets beside it.
        self._fig = plot.draw_move(result, step=step, fig=self._fig, caption=False)
        buf = io.BytesIO()
        import matplotlib

        with matplotlib.rc_context(PNG_RC):
            self._fig.savefig(buf, format="png", dpi=PNG_DPI, pil_kwargs=PNG_OPTIONS)
        png = buf.getvalue()
        self._pngs[key] = png
        while len(self._pngs) > self._cache_size:
            self._pngs.popitem(last=False)
        return png

    def _show_error(self, reason: str) -> None:
        """Show why the values cannot be simulated; keep the last good picture."""
        self.error = reason
        kept = " The picture still shows the last good move." if self.result else ""
        self.error_line.value = (f"<span style='color:#b00020'><b>Cannot move:</b> {html.escape(reason)}.{kept}"
                                 f"</span>")

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

def display_bundle(widget, text: str, **kwargs) -> dict:
    """What Jupyter shows for an object wrapping `widget`: the widget, with a short text/plain.

    The container's own repr lists every child (the PNG bytes included), which nbval would compare."""
    bundle = widget._repr_mimebundle_(**kwargs)
    if isinstance(bundle, tuple):
        bundle = bundle[0]
    return {**bundle, "text/plain": text}


def _hex(value) -> str:
    return "?" if value is None else f"{value:#x}"


def _as_int(value, name: str) -> int:
    """An integer (numpy integers too), or a ValueError naming the control."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name.split()[0]} must be an int{name[len(name.split()[0]):]}, got {value!r}") from None


def _parse_hex(s: str, name: str) -> int:
    """An address or length typed into a box: hex, with or without 0x; '_' and spaces allowed."""
    cleaned = s.strip().lower().replace("_", "").replace(" ", "")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise ValueError(f"{name}: {s.strip()!r} is not a hex number (example: 0x1fff000)") from None
    if value < 0:
        raise ValueError(f"{name}: {s.strip()!r} is negative")
    return value


def _reason(e: Exception) -> str:
    """The message of an engine error, without the errno prefix Python adds."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e)


def _step_sentence(result, k: int) -> str:
    """What step k did (k events applied), or what the loop is about to do (k = 0)."""
    n = len(result.events)
    if k == 0:
        where = "" if not result.realigned else f" {result.realign_check[0].upper()}{result.realign_check[1:]}."
        return f"Before the loop: nothing moved yet; {n} step{'s' if n != 1 else ''} to replay.{where}"
    return result.events[k - 1].describe()

