"""The real kernels the VM lab boots: Debian's own kernel packages, each named exactly (package and version)."""

from __future__ import annotations

from dataclasses import dataclass

X86_64 = ("qemu-system-x86_64", ("-M", "pc", "-cpu", "qemu64"))  # qemu64: no LA57, so 4-level paging
I386 = ("qemu-system-i386", ("-M", "pc", "-cpu", "qemu32,+pae"))
# Debian builds arm64 with VA_BITS=52: on a CPU with FEAT_LPA2 (QEMU's "max" has it) user space reaches
# 1 << 52 (the guest mapped a page at 1 << 48, December 2026), and 4 KiB pages take 5 levels. Most arm64
# hardware has no LPA2; without it the same kernels run with 48-bit addresses, as Geometry.arm64_4k() and
# arm64_16k() model. So LPA2 is off.
AARCH64 = ("qemu-system-aarch64", ("-M", "virt", "-cpu", "max,lpa2=off"))


@dataclass(frozen=True)
class GuestKernel:
    """One Debian kernel package, how QEMU boots it and which pagemove kernel and geometry it stands for."""

    name: str  # the catalogue name, e.g. "debian-6.1-amd64"
    package: str  # the exact Debian binary package, e.g. "linux-image-6.1.0-57-amd64"
    version: str  # its exact Debian version, e.g. "6.1.192-3"
    suite: str  # the archive suite that has it now, e.g. "bookworm-security"
    deb_arch: str  # "amd64", "i386" or "arm64"
    arch: str  # the guest program's architecture: "x86_64", "i386" or "aarch64"
    qemu: str  # the QEMU system binary
    machine_args: tuple[str, ...]
    console: str  # "ttyS0" or "ttyAMA0"
    kernel_version: str  # the pagemove kernel string, e.g. "6.1"
    geometry: str  # the pagemove Geometry name, e.g. "x86_64", "i386_pae", "arm64_4k", "arm64_16k"
    pgtable_levels: int  # the package's CONFIG_PGTABLE_LEVELS (more than the MMU uses where folded at run time)
    memory_mb: int = 512

    @property
    def abi(self) -> str:
        """The kernel's release string (uname -r), e.g. "6.1.0-57-amd64"."""
        return self.package.removeprefix("linux-image-")

    @property
    def vmlinuz_path(self) -> str:
        """Where the package keeps the kernel image."""
        return f"./boot/vmlinuz-{self.abi}"

    @property
    def config_path(self) -> str:
        """Where the package keeps the kernel's build configuration."""
        return f"./boot/config-{self.abi}"

    @property
    def apt_spec(self) -> str:
        """What `apt-get download` is given: exactly one package of one architecture at one version."""
        return f"{self.package}:{self.deb_arch}={self.version}"

    @property
    def is_arm64(self) -> bool:
        return self.arch == "aarch64"


def _kernel(name, package, version, suite, deb_arch, kernel_version, geometry, levels, memory_mb=512) -> GuestKernel:
    arch = {"amd64": "x86_64", "i386": "i386", "arm64": "aarch64"}[deb_arch]
    qemu, machine = {"amd64": X86_64, "i386": I386, "arm64": AARCH64}[deb_arch]
    console = "ttyAMA0" if deb_arch == "arm64" else "ttyS0"
    return GuestKernel(name, package, version, suite, deb_arch, arch, qemu, machine, console, kernel_version,
                       geometry, levels, memory_mb)


# The versions the archive had in December 2026. bookworm-security carries 6.1 and 6.12 for bookworm; a
# new ABI (6.1.0-58, ...) replaces the old package there, and then the name and version here must follow.
KERNELS: dict[str, GuestKernel] = {k.name: k for k in (
    _kernel("debian-5.10-amd64", "linux-image-5.10.0-32-amd64", "5.10.223-1", "bullseye", "amd64",
            "5.10", "x86_64", 4),
    _kernel("debian-6.1-amd64", "linux-image-6.1.0-57-amd64", "6.1.192-3", "bookworm-security", "amd64",
            "6.1", "x86_64", 5),
    _kernel("debian-6.1-i386", "linux-image-6.1.0-57-686-pae", "6.1.192-3", "bookworm-security", "i386",
            "6.1", "i386_pae", 3),
    _kernel("debian-6.12-amd64", "linux-image-6.12.118+deb12-amd64", "6.12.118-1~deb12u1", "bookworm-security",
            "amd64", "6.12", "x86_64", 5),
    _kernel("debian-6.12-arm64", "linux-image-6.12.118+deb12-arm64", "6.12.118-1~deb12u1", "bookworm-security",
            "arm64", "6.12", "arm64_4k", 5),
    _kernel("debian-6.12-arm64-16k", "linux-image-6.12.118+deb12-arm64-16k", "6.12.118-1~deb12u1",
            "bookworm-security", "arm64", "6.12", "arm64_16k", 4, memory_mb=1024),
)}


def get(name: str) -> GuestKernel:
    """The catalogue entry called `name`; a ValueError listing every name otherwise."""
    try:
        return KERNELS[name]
    except KeyError:
        raise ValueError(f"unknown VM kernel {name!r}: choose from {', '.join(KERNELS)}") from None
