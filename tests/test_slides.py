"""The notebooks that carry slide metadata build into reveal.js slides with `jupyter nbconvert --to slides`.

The build runs with the network switched off inside the nbconvert process (any socket connect raises), so
it proves that building slides needs no CDN. Lecturers present from the built HTML (`make slides`;
docs/teaching.md); jupyterlab_rise is not installed (it pulled a JupyterLab 3 extension).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser_support import NOTEBOOKS, jupyter_env

SLIDE_STARTS = {"slide", "subslide"}

# Prepended to the nbconvert process: every outgoing connection fails loudly.
NO_NETWORK = """
import socket
def _refuse(*args, **kwargs):
    raise OSError("test_slides: network access attempted during the offline slides build")
socket.socket.connect = socket.socket.connect_ex = _refuse
socket.create_connection = socket.getaddrinfo = _refuse
from nbconvert.nbconvertapp import main
main()
"""


def slide_types(nb_path: Path) -> list[str]:
    """The slideshow slide_type of every cell ("" where a cell has none)."""
    cells = json.loads(nb_path.read_text())["cells"]
    return [c.get("metadata", {}).get("slideshow", {}).get("slide_type", "") for c in cells]


def slide_notebooks() -> list[Path]:
    """The committed notebooks in which at least one cell starts a slide."""
    return [nb for nb in sorted(NOTEBOOKS.glob("*.ipynb")) if SLIDE_STARTS & set(slide_types(nb))]


def test_notebooks_03_and_04_carry_slide_metadata():
    names = [nb.name for nb in slide_notebooks()]
    assert len(names) >= 2, f"expected notebooks 03 and 04 to carry slide metadata; only {names} do"
    for prefix in ("03", "04"):
        assert any(name.startswith(prefix) for name in names), f"no notebook {prefix}-* with slide metadata"


@pytest.mark.parametrize("nb_path", slide_notebooks(), ids=lambda p: p.name)
def test_slides_build_offline(nb_path, tmp_path):
    cmd = [sys.executable, "-c", NO_NETWORK, "--to", "slides", f"--output-dir={tmp_path}",
           # reveal.js from a local folder next to the HTML instead of the unpkg CDN default
           "--SlidesExporter.reveal_url_prefix=reveal.js", str(nb_path)]
    done = subprocess.run(cmd, env=jupyter_env(tmp_path / "state"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    html = (tmp_path / f"{nb_path.stem}.slides.html").read_text()
    starts = sum(t in SLIDE_STARTS for t in slide_types(nb_path))
    sections = len(re.findall(r"<section\b", html))
    assert sections >= max(starts, 3), f"{sections} <section>s for {starts} slide/subslide cells"
    assert '"reveal.js/dist/reveal.js"' in html and "unpkg.com/reveal.js" not in html
    assert "Traceback" not in html, "a committed output of a slide notebook holds a traceback"
