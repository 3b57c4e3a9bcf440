"""The core path (notebooks 00-05) stays readable in the time it states.

Main-thread prose is the Markdown a learner must read: everything outside code cells, fenced code
blocks and collapsed <details> blocks (the optional "Going deeper" parts and the exercise solutions).
Run this file as a script to print the word counts per notebook:

    .venv/bin/python tests/test_notebook_prose.py
"""

import re
from pathlib import Path

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
CORE = [f"{n:02d}" for n in range(6)]  # 00 .. 05
MAIN_THREAD_LIMIT = 9000  # words, 00-05 together (issue 13)


def source(prefix):
    return next(NOTEBOOKS.glob(f"{prefix}-*.md"))


def prose(md: str, *, main_thread: bool = True) -> str:
    """The Markdown prose of a jupytext MyST notebook; main_thread=True also drops <details> blocks."""
    md = re.sub(r"\A---\n.*?\n---\n", "", md, flags=re.S)  # the jupytext header
    md = re.sub(r"^```.*?^```[ \t]*$", "", md, flags=re.S | re.M)  # code cells and fenced blocks
    md = re.sub(r"^\+\+\+.*$", "", md, flags=re.M)  # cell breaks
    md = re.sub(r"<!--.*?-->", "", md, flags=re.S)
    if main_thread:
        md = re.sub(r"<details>.*?</details>", "", md, flags=re.S)
    return md


def words(text: str) -> int:
    text = re.sub(r"\]\([^)]*\)", "]", text)  # a link's URL is not read
    return len(re.findall(r"\S+", re.sub(r"</?[A-Za-z][^<>\n]*>", " ", text)))  # nor are HTML tags


def counts():
    """{prefix: (main-thread words, all prose words)} for 00-05."""
    return {p: (words(prose(source(p).read_text())), words(prose(source(p).read_text(), main_thread=False)))
            for p in CORE}


def test_main_thread_of_the_core_path_is_at_most_9000_words():
    c = counts()
    assert sum(m for m, _ in c.values()) <= MAIN_THREAD_LIMIT, c


def test_going_deeper_blocks_are_marked_and_closed():
    for p in CORE:
        md = source(p).read_text()
        assert md.count("<details>") == md.count("</details>"), p


def test_every_notebook_links_to_the_glossary():
    assert (NOTEBOOKS / "glossary.md").exists()
    for nb in sorted(NOTEBOOKS.glob("0*.md")):  # every numbered notebook
        assert "glossary.md" in nb.read_text(), nb.name


def test_counter_drops_code_and_details():
    md = "---\njupytext: x\n---\nOne two.\n```{code-cell}\nprint(1)\n```\n<details><summary>S</summary>\nhidden words\n</details>\n[three](http://x/y)"
    assert words(prose(md)) == 3 and words(prose(md, main_thread=False)) == 6
    assert words("if a < b and\nc > d") == 8  # comparisons are words, not tags


if __name__ == "__main__":
    c = counts()
    print(f"{'notebook':<40} {'main thread':>11} {'all prose':>10}")
    for p, (m, a) in c.items():
        print(f"{source(p).stem:<40} {m:>11} {a:>10}")
    print(f"{'total 00-05':<40} {sum(m for m, _ in c.values()):>11} {sum(a for _, a in c.values()):>10}")
