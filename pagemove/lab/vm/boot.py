"""Booting a catalogue kernel in QEMU with a program of ours as /init, under a hard timeout.

qemu -kernel vmlinuz -initrd <our newc archive> -append "console=… quiet panic=-1 -- <nonce> <args>": the
words after "--" become /init's arguments. The guest prints framed lines (console.py) and powers off;
QEMU then exits by itself (-no-reboot). Whatever happens – success, a guest that hangs, an exception here,
Ctrl-C – the QEMU process group is killed before boot() returns.

KVM is only a speed-up: on machines like CI's, /dev/kvm opens and KVM_CREATE_VM succeeds, yet a KVM guest
hangs at "Booting from ROM" (and on this project's build machine, nested, QEMU aborts at once: "failed to set
MSR 0x10a"). So with accel "auto" a KVM boot must print its first frame within KVM_PROBE_S, else it is
killed (or found dead) and the boot runs again under TCG, and KVM is not tried again in this process.
$PAGEMOVE_VM_ACCEL = tcg | kvm | auto chooses; the default is tcg.
"""

from __future__ import annotations

import fcntl
import os
import platform
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .catalogue import GuestKernel
from .console import PREFIX, parse_frames
from .fetch import vmlinuz
from .initramfs import newc_archive

QEMU_PACKAGES = {"qemu-system-x86_64": "qemu-system-x86", "qemu-system-i386": "qemu-system-x86",
                 "qemu-system-aarch64": "qemu-system-arm"}
KVM_PROBE_S = 20.0
KVM_GET_API_VERSION, KVM_CREATE_VM = 0xAE00, 0xAE01
_kvm_failed = False


@dataclass
class BootResult:
    """What one boot gave: the whole console text, its frames, the wall time and how it ran."""

    console: str
    frames: list[dict]
    wall_s: float
    timed_out: bool
    accel: str
    returncode: int | None = None
    notes: list[str] = field(default_factory=list)


def qemu_missing(kernel: GuestKernel) -> str | None:
    """One line naming the package to install when the kernel's QEMU binary is absent, else None."""
    if shutil.which(kernel.qemu):
        return None
    return f"{kernel.qemu} is missing: install the {QEMU_PACKAGES.get(kernel.qemu, 'qemu-system')} package"


def kvm_usable(kernel: GuestKernel | None = None) -> bool:
    """/dev/kvm opens, speaks API 12 and creates a VM, for a guest of this machine's own architecture.
    (Necessary, not sufficient: boot() still falls back to TCG if a KVM guest stays silent.)"""
    host = platform.machine()
    if kernel is not None and not (host == "x86_64" and kernel.arch in ("x86_64", "i386")
                                   or host == "aarch64" and kernel.arch == "aarch64"):
        return False
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION, 0) != 12:
            return False
        os.close(fcntl.ioctl(fd, KVM_CREATE_VM, 0))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def qemu_command(kernel: GuestKernel, image: Path, initrd: Path, words: list[str], accel: str,
                 smp: int = 1) -> list[str]:
    """The QEMU command line: `smp` CPUs (one by default), serial console on stdio, no display, no monitor,
    no reboot."""
    cmd = [kernel.qemu, *kernel.machine_args, "-m", str(kernel.memory_mb), "-smp", str(smp),
           "-kernel", str(image), "-initrd", str(initrd),
           "-append", f"console={kernel.console} quiet panic=-1 -- {' '.join(words)}",
           "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]
    if accel == "kvm":
        cmd[1:1] = ["-accel", "kvm"]
        cmd[cmd.index("-cpu") + 1] = "host"
    else:
        cmd[1:1] = ["-accel", "tcg"]
    return cmd


def _kill(proc: subprocess.Popen) -> None:
    """End QEMU's whole process group, however far it got."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _run(cmd, timeout_s: float, first_frame_s: float | None, on_line) -> tuple[str, bool, bool, int | None]:
    """Run QEMU, collecting its output; returns (text, timed out, silent past first_frame_s, returncode)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    chunks, pending, start = [], b"", time.monotonic()
    timed_out = silent = framed = False
    mark, tail = PREFIX.encode(), b""  # tail: the last bytes read, in case a frame's prefix spans two reads
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            elapsed = time.monotonic() - start
            if elapsed > timeout_s:
                timed_out = True
                break
            if first_frame_s is not None and elapsed > first_frame_s and not framed:
                silent = True
                break
            if not sel.select(timeout=0.2):
                if proc.poll() is not None:
                    break
                continue
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            chunks.append(data)
            if not framed:
                framed, tail = mark in tail + data, (tail + data)[-len(mark):]
            if on_line:
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode(errors="replace").rstrip("\r"))
        sel.close()
    finally:
        _kill(proc)
        proc.stdout.close()
    return b"".join(chunks).decode(errors="replace"), timed_out, silent, proc.returncode


def choose_accel(kernel: GuestKernel, accel: str | None = None) -> str:
    """"kvm" or "tcg" for this boot: $PAGEMOVE_VM_ACCEL (or `accel`), "auto" meaning KVM if usable."""
    accel = accel or os.environ.get("PAGEMOVE_VM_ACCEL", "tcg")
    if accel not in ("tcg", "kvm", "auto"):
        raise ValueError(f"accelerator must be tcg, kvm or auto, got {accel!r}")
    if accel == "auto":
        return "kvm" if not _kvm_failed and kvm_usable(kernel) else "tcg"
    return accel


def boot(kernel: GuestKernel, init: bytes, *, args=(), timeout_s: float = 120.0,
         extra_files: dict[str, bytes] | None = None, on_line: Callable[[str], None] | None = None,
         accel: str | None = None, smp: int = 1) -> BootResult:
    """Boot `kernel` with `init` as /init (given `args`), until it powers off or `timeout_s` passes.
    smp > 1 gives the guest that many CPUs (TCG runs one host thread per CPU: `vm warn` runs two exec loops)."""
    global _kvm_failed
    missing = qemu_missing(kernel)
    if missing:
        raise RuntimeError(missing)
    image = vmlinuz(kernel)
    if image is None:
        raise RuntimeError(f"{kernel.name} is not fetched: run python -m pagemove vm fetch {kernel.name}")
    nonce = secrets.token_hex(6)
    mode = choose_accel(kernel, accel)
    notes = []
    with tempfile.TemporaryDirectory(prefix="pagemove-vm-") as tmp:
        initrd = Path(tmp) / "initrd.gz"
        initrd.write_bytes(newc_archive({"init": init, **(extra_files or {})}))
        words = [nonce, *map(str, args)]
        start = time.monotonic()
        probe = KVM_PROBE_S if mode == "kvm" and (accel or os.environ.get("PAGEMOVE_VM_ACCEL")) == "auto" else None
        text, timed_out, silent, rc = _run(qemu_command(kernel, image, initrd, words, mode, smp), timeout_s, probe,
                                           on_line)
        if probe is not None and (silent or PREFIX not in text):
            _kvm_failed = True
            why = (f"printed nothing in {KVM_PROBE_S:.0f} s" if silent
                   else f"ended (status {rc}) before printing: {(text.strip().splitlines() or [''])[-1]}")
            notes.append(f"the KVM guest {why}; ran again under TCG")
            mode = "tcg"
            text, timed_out, _, rc = _run(qemu_command(kernel, image, initrd, words, mode, smp),
                                          timeout_s - (time.monotonic() - start), None, on_line)
        wall = time.monotonic() - start
    return BootResult(text, parse_frames(text, nonce), wall, timed_out, mode, rc, notes)
