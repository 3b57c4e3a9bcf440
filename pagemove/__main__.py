"""The command line: python -m pagemove move | quiz | assignment | links | lab | vm.

Every number is read by the one grammar (pagemove.numbers): hex 0x201000, decimal 2101248, a binary
size 2M or 4K, or a sum such as 2M+4K. A bad argument, or a move the kernel would refuse, prints one
line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

MOVE_EXAMPLES = """\
examples:
  pagemove move --old 0x1fff000 --new 0x0fff000 --len 0x201000 --kernel 6.6
      case (c) with mremap(): 1 PTE move, then 1 PMD move
  pagemove move --old 0x1fff000 --new 0x1dff000 --len 0x201000 --stack --kernel 6.6
      the execve stack move that makes 6.6 WARN (513 PTE moves, 1 refusal)
  pagemove move --old 0x1fff000 --new 0x1dff000 --len 0x201000 --stack --kernel 6.7
      the same on 6.7: realigned to 0x1e00000 -> 0x1c00000, 2 PMD moves
  pagemove move --old 0x1f000 --new 0xf000 --len 0x9000 --geometry tiny
      case (c) on the tiny machine (8 entries per table, PMD_SIZE 0x8000); the default
      kernel (the newest) realigns it: 2 PMD moves
  pagemove move --old 0x1fff000 --new 0x0fff000 --len 2M+4K --blocker 0xe00000:4K --json
      a mapping below new stops the realignment; machine-readable output
"""

QUIZ_EXAMPLES = """\
examples:
  pagemove quiz --seed 7                 one problem; work it out on paper
  pagemove quiz --seed 7 -c              the same problem with its answers and the step trace
  pagemove quiz --seed 0 --count 5 --difficulty 3 --kind counts
      five x86-64 problems (seeds 0..4), all asking for the PMD/PTE/refusal counts
  pagemove quiz --seed 7 -a pmd_6.6=1 -a pte_6.6=7 -a refusals_6.6=0
      check your answers: each item right or wrong, and why, from the step trace
"""

ASSIGNMENT_EXAMPLES = """\
examples:
  pagemove assignment hw1 --course course/
      five problems (seeds 0..4, difficulty 1) in course/source/hw1/hw1.ipynb, and
      course/nbgrader_config.py if the course has none; then, in course/:
      nbgrader generate_assignment hw1 (the student version, in release/hw1/)
  pagemove assignment hw2 --course course/ -n 6 -d 3 -s 200 --kind counts realign empty
      six x86-64 problems (seeds 200..205) asking for counts, realignment and empty entries
      in turn, 1 point per answer
  pagemove assignment hw3 --course course/ --variants 3 --repo https://github.com/ACCOUNT/pagemove
      three versions hw3-v1, hw3-v2, hw3-v3 of five problems (disjoint seeds, the same kinds of
      question in the same order), whose introduction links to the glossary and notebooks on GitHub
  pagemove assignment practice1 --course course/ --practice
      students see each answer's feedback (right or wrong, and why) while they work

The answers are checked when nbgrader autogrades, by the same Problem.check() as notebook 07's
exercise widget. The same arguments always write the same notebook, byte for byte. The whole
workflow, from a fresh clone to the grades: docs/teaching.md.
"""

LINKS_EXAMPLES = """\
examples:
  pagemove links https://github.com/ACCOUNT/pagemove
      Binder (JupyterLab, and the dashboard in Voila) and nbviewer links for your copy
  pagemove links https://github.com/ACCOUNT/pagemove --hub https://hub.example.edu
      ... and the nbgitpuller links that clone the notebooks into each student's hub account
  pagemove links https://github.com/ACCOUNT/pagemove --markdown
      the same as Markdown badges and a table, to paste into a README or a course page
"""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (try {self.prog} --help)\n")


def number(text: str) -> int:
    """pagemove.problems.parse_number (the one grammar) as an argparse type, so its message is shown."""
    from .problems import parse_number
    try:
        return parse_number(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def blocker(text: str) -> tuple[int, int]:
    """An argparse type: START:LEN, another mapping (read-only, populated)."""
    start, sep, length = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected START:LEN, e.g. 0xe00000:4K, got {text!r}")
    return number(start), number(length)


def kernel(text: str) -> str:
    """An argparse type: a kernel version pagemove models."""
    from .kernel import Kernel
    try:
        return str(Kernel.parse(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_difficulty(parser) -> None:
    """-d/--difficulty, as quiz and assignment both take it."""
    from .problems import DIFFICULTIES
    parser.add_argument("-d", "--difficulty", type=int, choices=sorted(DIFFICULTIES), default=1,
                        help="; ".join(f"{k}: {v}" for k, v in DIFFICULTIES.items()))


def build_parser() -> Parser:
    """The parser for all subcommands."""
    from .kernel import NEWEST
    from .problems import KINDS
    from .scenario import GEOMETRIES

    p = Parser(prog="pagemove", description="How Linux moves page tables on mremap() and execve(), simulated.",
               epilog="run 'pagemove COMMAND --help' for each command's options and examples")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    m = sub.add_parser("move", help="simulate one move and print the trace, the counts and a picture",
                       description="Map [old, old+len) populated, move it, and print what move_page_tables() did.",
                       epilog=MOVE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--old", type=number, required=True, help="start of the mapping to move")
    m.add_argument("--new", type=number, required=True, help="where it goes (MREMAP_FIXED)")
    m.add_argument("--len", "--length", dest="length", type=number, required=True, help="bytes to move")
    m.add_argument("--stack", action="store_true",
                   help="the execve stack move: relocate_vma_down() by old - new (new below old)")
    m.add_argument("--kernel", type=kernel, default=NEWEST, help=f"kernel version (default {NEWEST})")
    m.add_argument("--geometry", choices=sorted(GEOMETRIES), default="x86_64", help="default x86_64")
    m.add_argument("--thp", action="store_true",
                   help="the moved mapping is THP-eligible: each whole, aligned PMD of it is one huge page")
    m.add_argument("--blocker", type=blocker, action="append", default=[], metavar="START:LEN",
                   help="another mapping (read-only, populated); may be repeated")
    m.add_argument("--unchecked", action="store_true",
                   help="realign WITHOUT can_align_down() (Linus' first proposal; NOT the kernel)")
    m.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    m.set_defaults(run=run_move)

    q = sub.add_parser("quiz", help="print seeded problems (and with -c their answers), like OSTEP",
                       description="Seeded problems about one move. The same seed gives the same problem "
                                   "on every machine; problem i of --count K uses seed SEED+i.",
                       epilog=QUIZ_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("-s", "--seed", type=number, default=0, help="the first problem's seed (default 0)")
    q.add_argument("-n", "--count", type=number, default=1, help="how many problems (default 1)")
    q.add_argument("-c", "--compute", action="store_true", help="print the answers and the step trace too")
    q.add_argument("-a", "--answer", action="append", default=[], metavar="ITEM=VALUE",
                   help="check your answer to one item (repeat for each item; one problem only); "
                        "exit status 0 when all are right, 1 otherwise")
    q.add_argument("--kind", choices=list(KINDS), help="ask only this kind of question")
    add_difficulty(q)
    q.set_defaults(run=run_quiz)

    a = sub.add_parser("assignment", help="write seeded problems as an nbgrader assignment (homework)",
                       description="Write an nbgrader source notebook, DIR/source/NAME/NAME.ipynb: seeded "
                                   "problems,\nanswer cells and autograded test cells (points per answer). "
                                   "Problem i uses seed\nSEED+i, as in quiz.",
                       epilog=ASSIGNMENT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("name", metavar="NAME", help="the assignment's name (letters, digits, _ . -)")
    a.add_argument("--course", required=True, metavar="DIR", help="the nbgrader course directory (created "
                   "if missing)")
    a.add_argument("-n", "--count", type=number, default=5, help="how many problems (default 5)")
    add_difficulty(a)
    a.add_argument("-s", "--seed", type=number, default=0, help="the first problem's seed (default 0)")
    a.add_argument("--kind", nargs="+", action="extend", choices=list(KINDS), metavar="KIND",
                   help=f"ask these kinds in turn (default: drawn by seed); one of {', '.join(KINDS)}")
    a.add_argument("--points", type=float, default=1, help="points per answer item (default 1)")
    a.add_argument("--variants", type=number, default=1, metavar="K",
                   help="write K versions NAME-v1..NAME-vK with disjoint seeds, for larger classes")
    a.add_argument("--practice", action="store_true",
                   help="show students the feedback while they work (default: only when graded)")
    a.add_argument("--repo", metavar="URL", help="link the introduction to the glossary and notebooks of "
                   "this repository (https://github.com/ACCOUNT/pagemove)")
    a.add_argument("--force", action="store_true", help="overwrite a source notebook that differs")
    a.set_defaults(run=run_assignment)

    ln = sub.add_parser("links", help="print Binder, Voila, nbviewer and nbgitpuller links for a repository",
                        description="Print the links that open this repository's notebooks: on mybinder.org\n"
                                    "(JupyterLab, and the dashboard in Voila), read-only on nbviewer, and with\n"
                                    "--hub on your JupyterHub through nbgitpuller.",
                        epilog=LINKS_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ln.add_argument("repo", metavar="URL", help="the repository, https://github.com/ACCOUNT/NAME")
    ln.add_argument("--branch", default="main", help="the branch to open (default main)")
    ln.add_argument("--hub", metavar="URL", help="your JupyterHub, e.g. https://hub.example.edu")
    ln.add_argument("--markdown", action="store_true", help="print Markdown (badges and a table)")
    ln.set_defaults(run=run_links)

    # `lab` belongs to pagemove.lab, which main() imports only when the command is lab
    sub.add_parser("lab", help="measure mremap on this Linux and compare with the engine (see lab --help)",
                   add_help=False)
    # `vm` belongs to pagemove.lab.vm, likewise imported only when the command is vm
    sub.add_parser("vm", help="boot Debian's kernels in QEMU and hold them to the engine (see vm --help)",
                   add_help=False)
    return p


def run_move(args) -> int:
    """The `move` command."""
    from .scenario import simulate
    r = simulate(args.old, args.new, args.length, kernel=args.kernel, stack=args.stack, geometry=args.geometry,
                 blockers=tuple(args.blocker), unchecked_expansion=args.unchecked, thp=args.thp)
    if args.json:
        print(json.dumps(result_json(r), indent=2))
    else:
        from .text import report
        print(report(r), end="")
    return 0


def result_json(r) -> dict:
    """A MoveResult as plain JSON data (addresses as ints)."""
    return {"operation": r.operation, "kernel": r.kernel, "geometry": r.geometry.name,
            "old": r.old_addr, "new": r.new_addr, "length": r.length,
            "counts": r.counts, "huge_pmd_moves": r.huge_pmd_moves, "huge_pmd_splits": r.huge_pmd_splits,
            "warned": r.warned, "realigned": r.realigned, "realign_check": r.realign_check,
            "start_old": r.start_old, "start_new": r.start_new, "moved": r.moved,
            # "step" counts from 1 as every reader sees it; "index" is the event's place in r.events
            "events": [{"step": e.number, "index": e.step, "old": e.old, "new": e.new, "extent": e.extent,
                        "level": e.level,
                        "outcome": e.outcome, "ptes": e.ptes, "refused": list(e.refused), "cause": e.cause,
                        "flush": list(e.flush) if e.flush else None, "describe": e.describe()}
                       for e in r.events],
            "tlb_flushes": [list(f) for f in r.tlb_flushes], "tlb_flush_pages": r.tlb_flush_pages(),
            "unchecked": r.unchecked, "damage": r.damage.summary() if r.damage is not None else None}


def run_quiz(args) -> int:
    """The `quiz` command: OSTEP's print-then-`-c` workflow."""
    from .problems import Problem
    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    if args.answer and args.count != 1:
        raise ValueError("--answer checks one problem: leave out --count")
    answers = dict(_item_value(a) for a in args.answer)
    if answers:
        p = Problem.random(args.seed, kind=args.kind, difficulty=args.difficulty)
        feedback = p.check(answers)
        print(f"{p}\n\n{feedback}")
        return 0 if feedback.right else 1
    for name in ("seed", "count", "compute", "kind", "difficulty"):  # OSTEP's habit: echo the settings, so
        value = getattr(args, name)                                    # a pasted run can be reproduced
        print(f"ARG {name} {'any' if value is None else value}")
    example = None
    for i in range(args.count):
        p = Problem.random(args.seed + i, kind=args.kind, difficulty=args.difficulty)
        print(f"\n{p}")
        if args.compute:
            print("\n" + p.solution())
        else:
            width = max(len(item.name) for item in p.items)
            for item in p.items:  # the first column is the ITEM that -a ITEM=VALUE takes
                print(f"  {item.name:<{width}}  {item.label}: ?")
            example = example or (p.seed, p.items[0].name)
    if example:
        print(f"\nWork the answers out, then check them with -a ITEM=VALUE, ITEM from the first column "
              f"(e.g.\npagemove quiz --seed {example[0]} -d {args.difficulty}"
              f"{f' --kind {args.kind}' if args.kind else ''} -a {example[1]}=...), or run again with -c to "
              f"see them.")
    return 0


def run_assignment(args) -> int:
    """The `assignment` command: nbgrader source notebooks of seeded problems."""
    from .assignment import check_args, check_name, repo_pages, variant_problems, write_assignment
    check_args(args.count, args.seed, args.difficulty, args.kind, args.points, args.variants)
    if args.repo:
        repo_pages(args.repo)  # a bad URL is refused before anything is written
    sets = variant_problems(args.count, args.seed, args.difficulty, args.kind, args.variants)
    names = [args.name] if len(sets) == 1 else [f"{args.name}-v{v}" for v in range(1, len(sets) + 1)]
    for name in names:  # every name is checked before anything is written
        check_name(name)
    for name, problems in zip(names, sets):
        path, config = write_assignment(args.course, name, problems, args.points, args.practice, args.repo,
                                        args.force)
        seeds = f"seeds {problems[0].seed}..{problems[-1].seed}" if len(problems) > 1 else \
            f"seed {problems[0].seed}"
        items = sum(len(p.items) for p in problems)
        print(f"wrote {path}")
        print(f"  {len(problems)} problem{'s' * (len(problems) > 1)} ({seeds}, difficulty {args.difficulty}), "
              f"{items} answers, {args.points:g} point{'s' * (args.points != 1)} each: "
              f"{items * args.points:g} points")
        if config:
            print(f"wrote {path.parents[2] / 'nbgrader_config.py'}")
    more = f" (and {', '.join(names[1:])})" if len(names) > 1 else ""
    print(f"next, in {args.course}: nbgrader generate_assignment {names[0]}{more}   (docs/teaching.md)")
    return 0


def run_links(args) -> int:
    """The `links` command."""
    from .links import links, markdown, text
    found = links(args.repo, branch=args.branch, hub=args.hub)
    print(markdown(found) if args.markdown else text(found), end="")
    return 0


def _item_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--answer wants ITEM=VALUE, e.g. pmd_6.6=1, got {text!r}")
    return name.strip(), value


def run_lab(argv: list[str]) -> int:
    """The `lab` command, handed to pagemove.lab (imported only now)."""
    try:
        from . import lab
    except ImportError as e:
        print(f"pagemove lab: error: the real-kernel lab is not available ({e})", file=sys.stderr)
        return 2
    parser = Parser(prog="pagemove lab", description="Measure mremap() on this Linux kernel and compare "
                                                    "with pagemove's prediction.")
    lab.add_arguments(parser)
    return lab.run_cli(parser.parse_args(argv)) or 0


def run_vm(argv: list[str]) -> int:
    """The `vm` command, handed to pagemove.lab.vm (imported only now)."""
    from .lab.vm import cli
    parser = Parser(prog="pagemove vm", description="Boot Debian's own kernels in QEMU and hold each to the "
                                                    "engine at its version and geometry.")
    cli.add_arguments(parser)
    return cli.run_cli(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad argument or refused move)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv else ""
    try:
        if command == "lab":
            return run_lab(argv[1:])
        if command == "vm":
            return run_vm(argv[1:])
        args = build_parser().parse_args(argv)
        return args.run(args)
    except BrokenPipeError:  # `pagemove move ... | head`: the reader left; stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SystemExit as e:  # argparse's --help (0) and usage errors (2)
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    except (OSError, ValueError) as e:  # what the kernel, or pagemove's own argument checks, refused
        message = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        print(f"pagemove {command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
