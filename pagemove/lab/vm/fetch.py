"""Fetching a catalogue kernel: `apt-get download` of the exact package, with a private apt configuration.

Nothing in the system's apt setup changes: the package lists, the download cache and the sources list live
in the VM cache folder. The mirror is the one the machine already uses (its /etc/apt/sources.list and
sources.list.d, one-line or deb822), so no host name is written in pagemove; only the suite is ours. From
the package only the kernel image and its build configuration are kept.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .catalogue import GuestKernel

APT_ETC = Path("/etc/apt")


def cache_dir() -> Path:
    """Where the VM lab keeps kernels and guest programs: $PAGEMOVE_VM_CACHE, else the user's cache dir."""
    if os.environ.get("PAGEMOVE_VM_CACHE"):
        return Path(os.environ["PAGEMOVE_VM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pagemove" / "vm"


def kernel_dir(kernel: GuestKernel) -> Path:
    """The folder of one fetched kernel (named by its exact package and version)."""
    return cache_dir() / "kernels" / f"{kernel.package}_{kernel.version}_{kernel.deb_arch}"


def vmlinuz(kernel: GuestKernel) -> Path | None:
    """The fetched kernel image, or None if the kernel has not been fetched."""
    path = kernel_dir(kernel) / "vmlinuz"
    return path if path.is_file() else None


def kernel_config(kernel: GuestKernel) -> dict[str, str]:
    """The fetched kernel's build configuration, CONFIG_X -> value ({} if not fetched)."""
    path = kernel_dir(kernel) / "config"
    if not path.is_file():
        return {}
    return dict(re.findall(r"^(CONFIG_\w+)=(.*)$", path.read_text(), re.M))


# ---- the machine's apt sources ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One `deb` source of the machine: its URI, suites and keyring."""

    uri: str
    suites: tuple[str, ...]
    signed_by: str = ""


def parse_one_line(text: str) -> list[Source]:
    """The `deb` lines of a one-line sources.list text (options in [...] read for signed-by)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
        if m:
            opts = dict(o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
            out.append(Source(m.group(2), (m.group(3),), opts.get("signed-by", "")))
    return out


def parse_deb822(text: str) -> list[Source]:
    """The enabled `Types: deb` stanzas of a deb822 .sources text."""
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            m = re.match(r"([A-Za-z-]+):\s*(.*)", line)
            if m and not line.startswith("#"):
                fields[m.group(1).lower()] = m.group(2).strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
            for uri in fields.get("uris", "").split():
                out.append(Source(uri, tuple(fields.get("suites", "").split()), fields.get("signed-by", "")))
    return out


def system_sources(etc: Path = APT_ETC) -> list[Source]:
    """Every `deb` source of the machine, as apt reads them (sources.list, then sources.list.d)."""
    out = []
    main = etc / "sources.list"
    if main.is_file():
        out += parse_one_line(main.read_text())
    parts = etc / "sources.list.d"
    for path in sorted(parts.iterdir()) if parts.is_dir() else []:
        if path.suffix == ".list":
            out += parse_one_line(path.read_text())
        elif path.suffix == ".sources":
            out += parse_deb822(path.read_text())
    return out


def mirror_for(suite: str, sources: list[Source]) -> Source:
    """The machine's Debian source that serves suites like `suite`: a *-security source for a security
    suite, else a plain release suite's (bookworm, ...) source. A ValueError if the machine has none."""
    security = suite.endswith("-security")
    for s in sources:
        for have in s.suites:
            if (have.endswith("-security") if security else re.fullmatch(r"[a-z]+", have)) and "debian" in s.uri:
                return s
    kind = "a Debian security suite (like bookworm-security)" if security else "a Debian release suite"
    raise ValueError(f"the machine's apt sources name no mirror for {kind}, so {suite} cannot be fetched: "
                     f"add one to /etc/apt/sources.list(.d)")


def sources_list(suite: str, sources: list[Source]) -> str:
    """The private one-line sources.list for one suite, on the machine's own mirror."""
    s = mirror_for(suite, sources)
    opts = f"[signed-by={s.signed_by}] " if s.signed_by else ""
    return f"deb {opts}{s.uri} {suite} main\n"


def apt_options(root: Path, deb_arch: str) -> list[str]:
    """apt-get -o options that keep everything under `root` (lists, cache, status, sources)."""
    return ["-o", f"Dir::Etc::SourceList={root / 'sources.list'}", "-o", "Dir::Etc::SourceParts=-",
            "-o", f"Dir::State={root / 'state'}", "-o", f"Dir::State::status={root / 'state' / 'status'}",
            "-o", f"Dir::Cache={root / 'cache'}", "-o", f"APT::Architectures::={deb_arch}",
            "-o", "Acquire::Languages=none", "-o", "Debug::NoLocking=1"]


def apt_missing() -> str | None:
    """One line naming what to install when apt-get or dpkg-deb is absent, else None."""
    for tool, package in (("apt-get", "apt"), ("dpkg-deb", "dpkg")):
        if shutil.which(tool) is None:
            return f"{tool} is missing: vm fetch uses Debian's apt; install the {package} package"
    return None


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{' '.join(cmd[:1] + cmd[-2:])} failed: {tail[0]}")


def fetch(kernel: GuestKernel, sources: list[Source] | None = None) -> Path:
    """Download the kernel's exact package, keep its vmlinuz and config, and return the vmlinuz path."""
    have = vmlinuz(kernel)
    if have:
        return have
    root = cache_dir() / "apt" / f"{kernel.suite}_{kernel.deb_arch}"
    for sub in ("state/lists/partial", "cache/archives/partial", "debs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "state" / "status").touch()
    (root / "sources.list").write_text(sources_list(kernel.suite, system_sources() if sources is None else sources))
    opts = apt_options(root, kernel.deb_arch)
    _run(["apt-get", "-q", *opts, "update"])
    debs = root / "debs"
    _run(["apt-get", "-q", *opts, "download", kernel.apt_spec], cwd=debs)
    deb = next(debs.glob(f"{kernel.package}_*_{kernel.deb_arch}.deb"))
    try:
        _extract(deb, kernel)
    finally:
        deb.unlink()
    return kernel_dir(kernel) / "vmlinuz"


def _extract(deb: Path, kernel: GuestKernel) -> None:
    """Take ./boot/vmlinuz-* and ./boot/config-* out of the .deb (dpkg-deb --fsys-tarfile)."""
    out = kernel_dir(kernel)
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    wanted = {kernel.vmlinuz_path: "vmlinuz", kernel.config_path: "config"}
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    tmp = out / (wanted[member.name] + ".part")
                    tmp.write_bytes(tar.extractfile(member).read())
                    tmp.rename(out / wanted[member.name])
    finally:
        proc.stdout.close()
        proc.wait()
    if not (out / "vmlinuz").is_file():
        raise RuntimeError(f"{deb.name} has no {kernel.vmlinuz_path}")
