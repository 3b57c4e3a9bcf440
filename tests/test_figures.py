"""figures/ is what the code draws today: `make figures` is deterministic, and every committed figure matches it.

The committed PNGs are compared with freshly drawn ones pixel by pixel (decoded RGBA, not bytes, so PNG
compression does not matter). A figure that differs fails with where it differs and by how much, and the
fresh drawing is left in a temporary folder (printed) to look at or copy over with `make figures`.
"""

from pathlib import Path

import numpy as np
import pytest

from pagemove import figures

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

COMMITTED = Path(__file__).resolve().parent.parent / "figures"
TOLERANCE = 2  # per channel, out of 255: rounding in anti-aliasing, far below any stroke or glyph


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.int16)


def difference(a: np.ndarray, b: np.ndarray) -> str:
    """'' when a and b show the same picture, else what differs (size, or how many pixels and where)."""
    if a.shape != b.shape:
        return f"size {a.shape[1]}x{a.shape[0]} committed, {b.shape[1]}x{b.shape[0]} drawn now"
    bad = (np.abs(a - b) > TOLERANCE).any(axis=-1)
    if not bad.any():
        return ""
    rows, cols = np.nonzero(bad)
    return (f"{bad.sum()} pixels differ, in x {cols.min()}..{cols.max()}, y {rows.min()}..{rows.max()} "
            f"(largest channel difference {np.abs(a - b).max()})")


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures-now")
    return {p.name: p for p in figures.make(out)}


def test_every_figure_the_code_draws_is_committed_and_nothing_else(drawn):
    assert sorted(drawn) == sorted(figures.FIGURES)
    assert sorted(p.name for p in COMMITTED.glob("*.png")) == sorted(drawn)


@pytest.mark.parametrize("name", sorted(figures.FIGURES))
def test_committed_figure_is_what_the_code_draws_today(name, drawn, capsys):
    why = difference(pixels(COMMITTED / name), pixels(drawn[name]))
    if why:
        with capsys.disabled():
            print(f"\nfresh drawing of {name}: {drawn[name]}")
    assert not why, f"figures/{name} is stale ({why}); run `make figures` and commit the result"


def test_make_figures_is_deterministic(drawn, tmp_path):
    again = {p.name: p for p in figures.make(tmp_path)}
    for name, path in drawn.items():
        assert again[name].read_bytes() == path.read_bytes(), f"{name}: two runs wrote different bytes"


def test_a_one_character_change_is_caught():
    """The comparison is fine enough for the stale figure the review found ("Step 0:" where "Step 1:")."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from pagemove import plot
    from pagemove.presets import PRESETS

    fig = plot.draw_move(PRESETS["thp-b"].run(kernel="6.7"), 1)
    after = fig.axes[1]
    FigureCanvasAgg(fig).draw()
    first = np.asarray(fig.canvas.buffer_rgba(), dtype=np.int16).copy()
    after.set_title(after.get_title().replace("step 1", "step 0"), fontsize=10)
    fig.canvas.draw()
    assert difference(first, np.asarray(fig.canvas.buffer_rgba(), dtype=np.int16))
