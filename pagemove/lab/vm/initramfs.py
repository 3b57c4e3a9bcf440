"""The guest's initramfs: a gzip'd cpio archive in the kernel's "newc" format, written here in Python.

Format (Documentation/driver-api/early-userspace/buffer-format.rst): per file a 110-byte ASCII header
"070701" + 13 eight-digit hex fields, the NUL-terminated name, padding to 4 bytes, the data, padding to 4
bytes; the archive ends with an entry named "TRAILER!!!". The kernel unpacks it into its rootfs and runs
/init as PID 1.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor", "rdevmajor",
          "rdevminor", "namesize", "check")


@dataclass(frozen=True)
class Entry:
    """One member of a newc archive."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _member(ino: int, e: Entry) -> bytes:
    name = e.name.encode() + b"\0"
    values = (ino, e.mode, 0, 0, 2 if stat.S_ISDIR(e.mode) else 1, 0, len(e.data), 0, 0, *e.rdev, len(name), 0)
    header = MAGIC + b"".join(b"%08x" % v for v in values)
    return header + name + _pad(len(header) + len(name)) + e.data + _pad(len(e.data))


def entries(files: dict[str, bytes], modes: dict[str, int] | None = None) -> list[Entry]:
    """Directories for every parent, /dev/console, then the files (mode 0755 for "init", else 0644)."""
    modes = modes or {}
    dirs = {"dev", "proc", "sys"} | {"/".join(p.strip("/").split("/")[:i]) for p in files
                                     for i in range(1, p.strip("/").count("/") + 1)}
    out = [Entry(d, stat.S_IFDIR | 0o755) for d in sorted(dirs)]
    out.append(Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    for path, data in files.items():
        name = path.strip("/")
        out.append(Entry(name, stat.S_IFREG | modes.get(name, 0o755 if name == "init" else 0o644), data))
    return out


def newc_archive(files: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    """The gzip'd newc archive of `files` ({path: content}; "init" is PID 1), ready for qemu -initrd."""
    body = b"".join(_member(ino, e) for ino, e in enumerate(entries(files, modes), 1))
    body += _member(0, Entry(TRAILER, 0))
    return gzip.compress(body, compresslevel=6, mtime=0)


def read_newc(archive: bytes) -> list[Entry]:
    """The members of a (gzip'd or plain) newc archive, trailer excluded: the writer's inverse, for tests."""
    raw = gzip.decompress(archive) if archive[:2] == b"\x1f\x8b" else archive
    out, at = [], 0
    while True:
        if raw[at:at + 6] != MAGIC:
            raise ValueError(f"not a newc header at byte {at}")
        f = dict(zip(FIELDS, (int(raw[at + 6 + 8 * i:at + 14 + 8 * i], 16) for i in range(13))))
        name_at = at + 110
        name = raw[name_at:name_at + f["namesize"] - 1].decode()
        data_at = name_at + f["namesize"] + (-(110 + f["namesize"]) % 4)
        data = raw[data_at:data_at + f["filesize"]]
        at = data_at + f["filesize"] + (-f["filesize"] % 4)
        if name == TRAILER:
            return out
        out.append(Entry(name, f["mode"], data, (f["rdevmajor"], f["rdevminor"])))
