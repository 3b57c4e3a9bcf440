"""Errors: what the kernel would return, and what no kernel would ever see."""

from __future__ import annotations

import errno
import os


def kernel_error(code: int, rule: str) -> OSError:
    """An OSError like the kernel's, naming the rule that was broken. .unmapped: the (start, end) ranges a
    failing mremap() had already unmapped (mm.py's _mremap_to); empty for every other error."""
    err = OSError(code, f"{os.strerror(code)} ({errno.errorcode[code]}): {rule}")
    err.unmapped = ()
    return err


def check_ints(**values) -> None:
    """Nonsense (not an int, negative) is a ValueError: no kernel would ever see it."""
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"{name} must be an int, got {v!r}")
        if v < 0:
            raise ValueError(f"{name} must not be negative, got {v}")
