"""The VM lab: Debian's own kernels (5.10, 6.1, 6.12 on x86-64, i386 PAE and arm64) booted in QEMU, each held
to the engine at its version and geometry.

    python -m pagemove vm list              the kernels; fetched? QEMU and a compiler for each arch here?
    python -m pagemove vm fetch NAME...     apt-get download into the cache folder (outside the repository)
    python -m pagemove vm lab NAME... [--json]

How a run goes: the guest program (guest/lab.c, with guest/common.h) is compiled static for the kernel's
architecture by `zig cc` (toolchain.py says why zig), packed as /init into an initramfs that pagemove
writes itself (initramfs.py), and booted with the package's vmlinuz under TCG with a hard timeout
(boot.py). The program does the moves, observes them (data, VmPTE, tracepoints, kprobes) and prints framed
lines on the serial console (console.py), which the host holds to the engine (lab.py).

What the six kernels showed (reference.json, December 2026): every move kept its data, and every
compared quantity – VmPTE over the move and after the blockers go, x86's tlb:tlb_flush sequence, the
page-table pages allocated (kprobes), THP moves and splits, the errno probes, page and PMD size, TASK_SIZE –
agreed with the engine, 5.10 to 6.12, on x86-64, i386 PAE and arm64 4K/16K. 6.12 realigns case (c); 5.10
and 6.1 do not. Two findings: Debian's arm64 kernels are built with VA_BITS=52, so on a CPU with LPA2 their
user space reaches 1 << 52 (the guests run without LPA2, as most hardware); and the 16K kernel then falls
back to 47-bit addresses (3 levels), where Geometry.arm64_16k() models the 48-bit build – recorded as a
deliberate difference (lab.EXPLAINED). The real 5.10 confirmed the engine's 4.20–5.15 errno order.

One concept per module: catalogue (the kernels), fetch (apt, the cache), toolchain (zig cc), initramfs
(newc), console (frames, WARNINGs), boot (QEMU), lab (scenarios in the guest, comparison with the
engine), cli. Needs: qemu-system-x86 / qemu-system-arm (apt), the `vm` extra (pip: ziglang), apt-get
for fetching. Cache: $PAGEMOVE_VM_CACHE, else ~/.cache/pagemove/vm.
"""

from .boot import BootResult, kvm_usable, qemu_missing
from .catalogue import KERNELS, GuestKernel, get
from .console import KernelWarning, kernel_warnings, parse_frames
from .fetch import cache_dir, vmlinuz
from .initramfs import newc_archive, read_newc
from .toolchain import compile_static, compiler_missing

# boot.boot() and fetch.fetch() are reached through their modules (pagemove.lab.vm.boot.boot), which
# keep their names here.
__all__ = ["KERNELS", "BootResult", "GuestKernel", "KernelWarning", "cache_dir", "compile_static",
           "compiler_missing", "get", "kernel_warnings", "kvm_usable", "newc_archive", "parse_frames",
           "qemu_missing", "read_newc", "vmlinuz"]
