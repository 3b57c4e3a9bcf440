"""The one number grammar of every input: explorer boxes, exercise answers, the CLI, MoveExplorer.set().

    parse_number("0x1fff000")  # hex, with the 0x prefix
    parse_number("4096")       # plain digits are decimal: 0x1000
    parse_number("2M")         # binary sizes: 4K 2M 1G 1T, also 4KiB 2MiB (any case)
    parse_number("2M+4K")      # sums of the above: 0x201000

Anything else ("abc", "1fff000" without its 0x, "-1", "1.5") is a ValueError that names the box (or
argument) and shows the accepted forms. `_` may group digits (0x7f00_0000_0000), as in Python.
pagemove.problems.parse_number is the public entry; this module is where the grammar lives.
"""

from __future__ import annotations

import re

ACCEPTED = "hex 0x1fff000, decimal 4096, or a size 4K 2M 1G (sums like 2M+4K too)"

_TERM = re.compile(r"(?:0x(?P<hex>[0-9a-f](?:_?[0-9a-f])*)|(?P<dec>\d(?:_?\d)*)(?P<unit>[kmgt](?:ib)?)?)",
                   re.IGNORECASE)
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_HEXISH = re.compile(r"[0-9a-f_]+", re.IGNORECASE)


def parse_number(text, name: str | None = None) -> int:
    """An int from an int, or from text in the one grammar; else ValueError naming `name` (a box, an option)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(_message(name, repr(text), "is negative"))
        return text
    if not isinstance(text, str):
        raise ValueError(_message(name, repr(text), "is not a number"))
    shown = text.strip()
    if not shown:
        raise ValueError(_message(name, "the box" if name else "''", "is empty"))
    total = 0
    for term in shown.split("+"):
        m = _TERM.fullmatch(term.strip())
        if m is None:
            raise ValueError(_message(name, repr(shown), "is not a number", _hint(term.strip())))
        if m["hex"] is not None:
            total += int(m["hex"], 16)
        else:
            total += int(m["dec"], 10) * (_UNITS[m["unit"][0].lower()] if m["unit"] else 1)
    return total


def _hint(term: str) -> str:
    """A pointed hint for the likeliest slip: hex digits without the 0x prefix."""
    if term and _HEXISH.fullmatch(term) and not term.replace("_", "").isdigit():
        return f" (hex needs its prefix: 0x{term})"
    return ""


def _message(name: str | None, what: str, problem: str, hint: str = "") -> str:
    where = f"{name}: " if name else ""
    return f"{where}{what} {problem}{hint}; write {ACCEPTED}"
