"""TEMPORARY stand-ins for helper vm's modules (catalogue, fetch, toolchain, initramfs, boot): deleted when
vm's land on main. Minimal, for running `vm warn` for real on this branch only."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class GuestKernel:
    name: str
    package: str
    arch: str
    qemu: str
    machine_args: tuple
    console: str
    kernel_version: str
    geometry: str
    vmlinuz_path: str


KERNELS = {"debian-6.1-i386": GuestKernel("debian-6.1-i386", "linux-image-6.1.0-50-686-pae", "i386",
                                          "qemu-system-i386", (), "ttyS0", "6.1", "i386_pae",
                                          "boot/vmlinuz-6.1.0-50-686-pae")}


def get(name: str) -> GuestKernel:
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}: one of {sorted(KERNELS)}")
    return KERNELS[name]


def cache_dir() -> Path:
    return Path(os.environ.get("PAGEMOVE_VM_CACHE", Path.home() / ".cache" / "pagemove" / "vm"))


def vmlinuz(kernel: GuestKernel) -> Path | None:
    p = cache_dir() / kernel.name / "vmlinuz"
    return p if p.exists() else None


def compiler_missing(arch: str) -> str | None:
    try:
        import ziglang  # noqa: F401
    except ImportError:
        return "no C compiler for i386: pip install ziglang"
    return None


def compile_static(source: Path, arch: str) -> bytes:
    target = {"i386": "x86-linux-musl", "x86_64": "x86_64-linux-musl", "aarch64": "aarch64-linux-musl"}[arch]
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "a.out"
        subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", target, "-static", "-O2", "-s",
                        "-o", str(out), str(source)], check=True)
        return out.read_bytes()


def newc_archive(files: dict[str, bytes]) -> bytes:
    out, ino = bytearray(), 1

    def entry(name: str, mode: int, data: bytes, nlink: int = 1, rdev=(0, 0)):
        nonlocal ino
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                                                          len(nb), 0))
        ino += 1
        out.extend(hdr.encode() + nb)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for d in ("dev", "proc", "sys", "sys/kernel", "sys/kernel/tracing", "sys/kernel/debug"):
        entry(d, 0o40755, b"", 2)
    entry("dev/console", 0o20600, b"", rdev=(5, 1))
    for name, data in files.items():
        entry(name, 0o100755, data)
    entry("TRAILER!!!", 0, b"")
    return gzip.compress(bytes(out), 6)


@dataclass
class BootResult:
    console: str
    frames: list = field(default_factory=list)
    wall_s: float = 0.0
    timed_out: bool = False
    accel: str = "tcg"


def qemu_missing(kernel: GuestKernel) -> str | None:
    return None if shutil.which(kernel.qemu) else f"{kernel.qemu} not found: apt-get install qemu-system-x86"


def boot(kernel: GuestKernel, init: bytes, *, args=(), timeout_s: float, smp: int = 1, on_line=None) -> BootResult:
    with tempfile.TemporaryDirectory() as d:
        initrd = Path(d) / "initrd.gz"
        initrd.write_bytes(newc_archive({"init": init}))
        cmd = [kernel.qemu, *kernel.machine_args, "-smp", str(smp), "-m", "512", "-nographic", "-no-reboot",
               "-kernel", str(vmlinuz(kernel)), "-initrd", str(initrd), "-append",
               f"console={kernel.console} quiet panic=-1 -- " + " ".join(args)]
        t0, lines = time.monotonic(), []
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        timer = threading.Timer(timeout_s, lambda: os.killpg(p.pid, signal.SIGKILL))
        timer.start()
        try:
            for raw in p.stdout:
                line = raw.decode(errors="replace").rstrip("\r\n")
                lines.append(line)
                if on_line:
                    on_line(line)
            p.wait()
        finally:
            timed_out = not timer.is_alive() and p.returncode != 0
            timer.cancel()
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        return BootResult("\n".join(lines), [], time.monotonic() - t0, timed_out)
