"""The one number grammar of every input: explorer boxes, exercise answers, the CLI, MoveExplorer.set().

    parse_number("0x1fff000")  # hex, with the 0x prefix
    parse_number("4096")       # plain digits are decimal: 0x1000
    parse_number("2M")         # binary sizes: 4K 2M 1G 1T, also 4KiB 2MiB (any case)
    parse_number("2M+4K")      # sums of the above: 0x201000

Anything else ("abc", "1fff000" without its 0x, "1.5") is a ValueError that names the box (or
argument) and shows the accepted forms; "-1" or -4096 is called negative. `_` may group digits
(0x7f00_0000_0000), as in Python.
pagemove.problems.parse_number is the public entry; this module is where the grammar lives.
"""

from __future__ import annotations

import re

ACCEPTED = "hex 0x1fff000, decimal 4096, or a size 4K 2M 1G (sums like 2M+4K too)"

_TERM = re.compile(r"(?:0x(?P<hex>[0-9a-f](?:_?[0-9a-f])*)|(?P<dec>\d(?:_?\d)*)(?P<unit>[kmgt](?:ib)?)?)",
                   re.IGNORECASE)
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_HEXISH = re.compile(r"[0-9a-f_]+", re.IGNORECASE)


class NumberError(ValueError):
    """A text that is not a number of the grammar; .reason is the message without the accepted forms, for a
    caller that names several broken boxes and lists the forms once."""

    def __init__(self, name: str | None, what: str, problem: str, hint: str = ""):
        self.reason = f"{f'{name}: ' if name else ''}{what} {problem}{hint}"
        super().__init__(f"{self.reason}; write {ACCEPTED}")


def parse_number(text, name: str | None = None) -> int:
    """An int from an int, or from text in the one grammar; else ValueError naming `name` (a box, an option)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise NumberError(name, repr(text), "is negative")
        return text
    if not isinstance(text, str):
        raise NumberError(name, repr(text), "is not a number")
    shown = text.strip()
    if not shown:
        raise NumberError(name, "the box" if name else "''", "is empty")
    if shown.startswith("-") and all(_TERM.fullmatch(t.strip()) for t in shown[1:].split("+")):
        raise NumberError(name, repr(shown), "is negative")
    total = 0
    for term in shown.split("+"):
        m = _TERM.fullmatch(term.strip())
        if m is None:
            raise NumberError(name, repr(shown), "is not a number", _hint(term.strip()))
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
