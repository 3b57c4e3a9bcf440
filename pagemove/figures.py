"""Regenerate the README's figures: python -m pagemove.figures OUTDIR (what `make figures` runs).

Each figure is one preset drawn with draw_move(); the PNG metadata carries no date or version, so
the same code gives the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .presets import PRESETS

# file name -> (preset, overrides, step): step None draws before | after, a number the state after that step
FIGURES = {
    "case-a.png": ("a", {}, None),
    "case-b.png": ("b", {}, None),
    "case-c.png": ("c", {}, None),
    "case-c-warn.png": ("c-overlap", {"kernel": "6.6"}, 2),
    "fix.png": ("c-overlap", {"kernel": "6.7"}, None),
    "arm64-64k-warn.png": ("arm64_64k-c-overlap", {"kernel": "6.6"}, 2),  # the same WARN with a 512 MiB PMD
    "thp-split.png": ("thp-b", {"kernel": "6.7"}, 1),  # after step 1: one huge page split, its PTEs moved
}


def make(outdir: str | Path) -> list[Path]:
    """Write every figure into outdir; return the paths written."""
    from .plot import draw_move

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (preset, changes, step) in FIGURES.items():
        fig = draw_move(PRESETS[preset].run(**changes), step)
        path = out / name
        fig.savefig(path, dpi=100, metadata={"Software": None})
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pagemove.figures OUTDIR", file=sys.stderr)
        return 2
    for path in make(args[0]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
