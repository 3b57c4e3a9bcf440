"""`python -m pagemove vm list | fetch NAME… | lab NAME… [--json]` (and the subcommands other modules add).

Adding a subcommand: a module of this package named in EXTRA_COMMANDS defines add_parser(sub), which adds
its parser to the subparsers `sub` and sets defaults(run=function(args) -> exit status). A missing
tool (QEMU, the compiler, apt) is one line on stderr naming the package to install, and exit status 2.
"""

from __future__ import annotations

import importlib
import json
import sys

from . import boot, catalogue, fetch, toolchain

EXTRA_COMMANDS = ("lab", "warn")  # modules of pagemove.lab.vm that may add a subcommand


class MissingTool(Exception):
    """A tool the command needs is absent; the message names the package to install."""


def kernels_of(names) -> list[catalogue.GuestKernel]:
    """The catalogue entries for `names` (ValueError for an unknown one); every kernel for none."""
    return [catalogue.get(n) for n in names] if names else list(catalogue.KERNELS.values())


def require(kernel: catalogue.GuestKernel, compiler: bool = True) -> None:
    """Raise MissingTool unless the kernel is fetched and QEMU (and the compiler) for it are here."""
    problem = boot.qemu_missing(kernel) or (toolchain.compiler_missing(kernel.arch) if compiler else None)
    if problem:
        raise MissingTool(problem)
    if fetch.vmlinuz(kernel) is None:
        raise MissingTool(f"{kernel.name} is not fetched: run python -m pagemove vm fetch {kernel.name}")


def status(kernel: catalogue.GuestKernel) -> dict:
    """One row of `vm list`: the kernel, its package, and whether it is fetched and can be booted here."""
    return {"name": kernel.name, "package": f"{kernel.package}={kernel.version}", "suite": kernel.suite,
            "arch": kernel.arch, "kernel": kernel.kernel_version, "geometry": kernel.geometry,
            "fetched": fetch.vmlinuz(kernel) is not None, "qemu": boot.qemu_missing(kernel) is None,
            "compiler": toolchain.compiler_missing(kernel.arch) is None}


def run_list(args) -> int:
    rows = [status(k) for k in kernels_of(args.names)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    yes = {True: "yes", False: "no"}
    print(f"{'name':24} {'kernel':6} {'geometry':10} {'fetched':7} {'qemu':4} {'compiler':8} package")
    for r in rows:
        print(f"{r['name']:24} {r['kernel']:6} {r['geometry']:10} {yes[r['fetched']]:7} {yes[r['qemu']]:4} "
              f"{yes[r['compiler']]:8} {r['package']} ({r['suite']}, {r['arch']})")
    print(f"cache: {fetch.cache_dir()}")
    return 0


def run_fetch(args) -> int:
    missing = fetch.apt_missing()
    if missing:
        raise MissingTool(missing)
    for k in kernels_of(args.names):
        path = fetch.fetch(k)
        print(f"{k.name}: {path}")
    return 0


def add_arguments(parser) -> None:
    """The `vm` subcommands, on an argparse parser."""
    sub = parser.add_subparsers(dest="vm_command", required=True, metavar="{list,fetch,lab,...}")
    ls = sub.add_parser("list", help="the catalogue: kernels, fetched or not, QEMU and compiler present or not")
    ls.add_argument("names", nargs="*", metavar="NAME")
    ls.add_argument("--json", action="store_true", help="one JSON list")
    ls.set_defaults(run=run_list)
    fe = sub.add_parser("fetch", help="download kernels (apt-get download, into the cache folder)")
    fe.add_argument("names", nargs="*", metavar="NAME", help="catalogue names (default: all)")
    fe.set_defaults(run=run_fetch)
    for name in EXTRA_COMMANDS:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.{name}":
                raise
            continue
        if hasattr(module, "add_parser"):
            module.add_parser(sub)


def run_cli(args) -> int:
    """Run a parsed `vm` command; a missing tool or a failed download is one line and exit status 2."""
    try:
        return args.run(args) or 0
    except MissingTool as e:
        print(f"pagemove vm: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"pagemove vm {args.vm_command}: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
