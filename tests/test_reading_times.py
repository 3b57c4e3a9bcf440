"""The reading time the README states for each notebook is the one the notebook's own header states.

Both are first-time readers' times (issue 20); they are written twice, for someone choosing what to read
and for someone about to read it, and this test keeps the two from drifting apart.
"""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
ROW = re.compile(r"^\| (\w+) \| \[[^\]]*\]\(notebooks/([\w-]+)\.ipynb\) \|.*\| ([^|]*) \|$", re.M)
RANGE = r"(\d+)(?:–(\d+))?"


def readme_times() -> dict[str, str]:
    """{notebook stem: its time column} from the README's table of notebooks."""
    return {stem: time.strip() for _, stem, time in ROW.findall((ROOT / "README.md").read_text())}


def header(stem: str) -> str:
    """The notebook's prose before its first section."""
    md = (ROOT / "notebooks" / f"{stem}.md").read_text()
    return md[:md.index("\n## ")]


def test_the_readme_lists_every_numbered_notebook():
    stems = {p.stem for p in (ROOT / "notebooks").glob("0*.md")}
    assert set(readme_times()) == stems


def test_each_notebook_states_the_time_the_readme_states():
    for stem, time in readme_times().items():
        m = re.search(RANGE, time)
        if not m:
            assert "open-ended" in time.lower() and "open-ended" in header(stem).lower(), stem
            continue
        minutes = m.group(0)
        assert re.search(rf"(?<![\d–]){minutes}(?![\d–]) minutes", header(stem)), (stem, minutes)
