"""Static guest programs for x86-64, i386 and aarch64 from one compiler: Zig's `zig cc`, from PyPI.

Why zig and not Debian's compilers: a guest program must be static for three architectures, and on
Debian 12 the two packages that would give them, gcc-multilib (i386) and gcc-aarch64-linux-gnu, conflict
(apt refuses to install both). The `ziglang` wheel (pinned in pyproject's `vm` extra and constraints.txt)
is one pip package with clang and musl for every target: `zig cc -target x86_64-linux-musl -static`, and
the same for x86-linux-musl and aarch64-linux-musl. Nothing comes from apt, nothing is downloaded at run
time. The first build per target compiles musl into zig's own cache (a minute or more on a busy machine);
the built programs are cached under the VM cache folder, keyed by the source text and the target.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

from .fetch import cache_dir

TARGETS = {"x86_64": "x86_64-linux-musl", "i386": "x86-linux-musl", "aarch64": "aarch64-linux-musl"}
GUEST = Path(__file__).parent / "guest"


def compiler_missing(arch: str) -> str | None:
    """One line naming what to install when no compiler for `arch` is here, else None."""
    if arch not in TARGETS:
        return f"no guest compiler target for {arch!r}: choose from {', '.join(TARGETS)}"
    if importlib.util.find_spec("ziglang") is None:
        return "the guest compiler is missing: install the ziglang Python package (pip install 'pagemove[vm]')"
    return None


def _zig() -> list[str]:
    return [sys.executable, "-m", "ziglang"]


def _key(c_source: Path, arch: str) -> str:
    h = hashlib.sha256(TARGETS[arch].encode())
    for path in sorted({c_source, *c_source.parent.glob("*.h")}):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def compile_static(c_source: Path, arch: str) -> bytes:
    """The static binary built from `c_source` (with the .h files beside it) for `arch`."""
    missing = compiler_missing(arch)
    if missing:
        raise RuntimeError(missing)
    c_source = Path(c_source)
    out = cache_dir() / "bin" / f"{c_source.stem}-{arch}-{_key(c_source, arch)}"
    if out.is_file():
        return out.read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        binary = Path(tmp) / "a.out"
        cmd = [*_zig(), "cc", "-target", TARGETS[arch], "-static", "-O2", "-s", "-Wall", "-Werror",
               "-I", str(c_source.parent), "-o", str(binary), str(c_source)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"zig cc for {arch} failed:\n{done.stderr.strip()}")
        binary.rename(out)
    return out.read_bytes()
