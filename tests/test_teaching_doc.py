"""docs/teaching.md says only what is true of this repository: its commands run, its names exist."""

import re
import shlex
from pathlib import Path
from urllib.parse import quote

import pytest

from pagemove.__main__ import main
from pagemove.links import links

REPO = Path(__file__).resolve().parent.parent
GUIDE = (REPO / "docs" / "teaching.md").read_text()
MAKEFILE = (REPO / "Makefile").read_text()


def shell_lines() -> list[str]:
    """The commands in the guide's ```sh blocks, continuation lines joined, comments dropped."""
    blocks = re.findall(r"```sh\n(.*?)```", GUIDE, re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    return [line.split("  #", 1)[0].strip() for line in text.splitlines() if line.strip()]


def test_every_make_target_it_names_exists():
    targets = set(re.findall(r"^([\w-]+):", MAKEFILE, re.M))
    named = set(re.findall(r"`make ([\w-]+)", GUIDE)) | {line.split()[1] for line in shell_lines()
                                                         if line.startswith("make ")}
    assert named and named <= targets, named - targets


def test_the_pagemove_commands_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    commands = [shlex.split(line.replace("~", str(tmp_path))) for line in shell_lines()
                if line.startswith("python -m pagemove ")]
    assert {c[3] for c in commands} >= {"assignment", "links"}
    for argv in commands:
        assert main(argv[3:]) == 0, argv
    assert (tmp_path / "os-course" / "source" / "hw1" / "hw1.ipynb").is_file()
    assert (tmp_path / "os-course" / "nbgrader_config.py").is_file()


def test_the_nbgitpuller_format_is_what_links_prints():
    (fmt,) = [line for line in GUIDE.splitlines() if "/hub/user-redirect/git-pull?" in line]
    found = links("https://github.com/ACCOUNT/pagemove", hub="https://hub.example.edu", branch="main")
    filled = (fmt.replace("<REPO>", quote(found.repo, safe="")).replace("<NAME>", found.name)
              .replace("<NOTEBOOK>", "07-exercises.ipynb").replace("<BRANCH>", "main"))
    assert filled == found.nbgitpuller["07-exercises"]


@pytest.mark.parametrize("path", sorted(set(re.findall(r"`((?:tests|notebooks|binder|docs)/[\w./-]+)`", GUIDE))))
def test_files_it_names_exist(path):
    assert (REPO / path).exists(), path


def test_slide_files_it_names_are_what_make_slides_builds():
    names = re.findall(r"build/slides/([\w-]+)\.slides\.html", GUIDE)
    assert names and all((REPO / "notebooks" / f"{n}.ipynb").is_file() for n in names)
    assert "nbconvert --to slides --output-dir=build/slides" in MAKEFILE


def test_options_table_lists_every_assignment_option(capsys):
    assert main(["assignment", "--help"]) == 0
    options = set(re.findall(r"(--[a-z]+)", capsys.readouterr().out)) - {"--help", "--course"}
    table = set(re.findall(r"^\| `(--[a-z]+)", GUIDE, re.M))
    assert options == table
