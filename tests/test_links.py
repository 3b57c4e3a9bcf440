"""`pagemove links URL`: Binder, Voila-on-Binder, nbviewer and nbgitpuller links, checked by their shape."""

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from pagemove.__main__ import main
from pagemove.links import links, markdown, notebook_names, parse_repo, text

REPO = Path(__file__).resolve().parent.parent
GH = "https://github.com/ACCOUNT/pagemove"
HUB = "https://hub.example.edu"


def query(url: str) -> dict:
    """The query of a URL, each parameter given exactly once."""
    parsed = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert all(len(v) == 1 for v in parsed.values()), url
    return {k: v[0] for k, v in parsed.items()}


def test_notebooks_are_those_of_the_checkout():
    names = notebook_names()
    assert names == sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb") if p.stem != "dashboard") + \
        ["dashboard"]
    assert notebook_names(REPO / "no-such-folder") == []


def test_binder_links_open_jupyterlab_and_the_voila_dashboard():
    found = links(GH)
    lab, voila = urlsplit(found.binder_lab), urlsplit(found.binder_voila)
    assert (lab.scheme, lab.netloc, lab.path) == ("https", "mybinder.org", "/v2/gh/ACCOUNT/pagemove/main")
    assert query(found.binder_lab) == {"urlpath": "lab/tree/notebooks"}
    assert voila.path == lab.path
    urlpath = query(found.binder_voila)["urlpath"]
    assert urlpath == "voila/render/notebooks/dashboard.ipynb"
    assert (REPO / urlpath.removeprefix("voila/render/")).is_file()
    assert (REPO / "binder" / "requirements.txt").read_text().count("voila==") == 1  # Binder can serve it


def test_nbviewer_links_name_files_that_exist():
    found = links(GH, branch="spring-2027")
    assert found.nbviewer_folder == "https://nbviewer.org/github/ACCOUNT/pagemove/tree/spring-2027/notebooks/"
    assert set(found.nbviewer) == set(notebook_names()) and found.nbviewer
    for stem, url in found.nbviewer.items():
        parts = urlsplit(url)
        assert parts.netloc == "nbviewer.org" and not parts.query
        head, _, path = parts.path.partition("/blob/spring-2027/")
        assert head == "/github/ACCOUNT/pagemove" and path == f"notebooks/{stem}.ipynb"
        assert (REPO / path).is_file()


def test_nbgitpuller_links_clone_the_repository_and_open_a_notebook():
    found = links(GH, hub=HUB + "/")
    assert found.hub == HUB
    for stem, url in {"": found.nbgitpuller_folder, **found.nbgitpuller}.items():
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == ("https", "hub.example.edu",
                                                            "/hub/user-redirect/git-pull")
        q = query(url)
        assert set(q) == {"repo", "urlpath", "branch"} and q["repo"] == GH and q["branch"] == "main"
        # urlpath starts with the folder nbgitpuller clones into: the repository's name
        assert q["urlpath"] == ("lab/tree/pagemove/notebooks" + (f"/{stem}.ipynb" if stem else ""))
        assert (REPO / q["urlpath"].removeprefix("lab/tree/pagemove/")).exists()
        assert "%2F" in url and "://github" not in parts.query  # the parameters are URL-encoded
    assert links(GH).nbgitpuller == {} and links(GH).nbgitpuller_folder is None


def test_a_hub_under_a_path_and_a_fork_with_another_name():
    found = links("https://github.com/someone/os-course-notes", hub="https://uni.example/jupyter")
    url = found.nbgitpuller["07-exercises"]
    assert url.startswith("https://uni.example/jupyter/hub/user-redirect/git-pull?")
    assert query(url)["urlpath"] == "lab/tree/os-course-notes/notebooks/07-exercises.ipynb"


@pytest.mark.parametrize("spelling", [GH, GH + "/", GH + ".git", "github.com/ACCOUNT/pagemove",
                                      "git@github.com:ACCOUNT/pagemove.git", "https://www.github.com/ACCOUNT/pagemove",
                                      "http://github.com/ACCOUNT/pagemove"])
def test_every_spelling_of_a_github_url_gives_the_same_links(spelling):
    assert links(spelling, hub=HUB) == links(GH, hub=HUB)


def test_gitlab_and_other_hosts():
    gl = links("https://gitlab.com/group/sub/pagemove", hub=HUB)
    assert gl.binder_lab == "https://mybinder.org/v2/gl/group%2Fsub%2Fpagemove/main?urlpath=lab/tree/notebooks"
    assert gl.nbviewer["07-exercises"] == ("https://nbviewer.org/urls/gitlab.com/group/sub/pagemove/-/raw/main/"
                                           "notebooks/07-exercises.ipynb")
    other = links("https://git.uni.example/os/pagemove.git")
    assert other.binder_lab.startswith("https://mybinder.org/v2/git/https%3A%2F%2Fgit.uni.example%2Fos%2Fpagemove/")
    assert other.nbviewer == {} and other.nbviewer_folder is None
    assert "nbviewer: it links GitHub and gitlab.com repositories only." in text(other)


@pytest.mark.parametrize("url", ["ftp://github.com/a/b", "https://github.com/ACCOUNT", "https://github.com/a/b/c",
                                 "https://github.com/a/b?tab=readme", "not a url", "https://github.com/a/b c"])
def test_bad_repository_urls(url):
    with pytest.raises(ValueError):
        parse_repo(url)


def test_text_lists_every_link(capsys):
    assert main(["links", GH, "--hub", HUB]) == 0
    out = capsys.readouterr().out
    found = links(GH, hub=HUB)
    for url in [found.binder_lab, found.binder_voila, found.nbviewer_folder, found.nbgitpuller_folder,
                *found.nbviewer.values(), *found.nbgitpuller.values()]:
        assert url in out.split()
    assert out == text(found)
    assert main(["links", GH]) == 0
    assert "pass --hub https://your.hub.example" in capsys.readouterr().out


def test_markdown_badges_and_table(capsys):
    assert main(["links", GH, "--hub", HUB, "--markdown"]) == 0
    out = capsys.readouterr().out
    found = links(GH, hub=HUB)
    assert out == markdown(found)
    assert out.startswith(f"[![Binder](https://mybinder.org/badge_logo.svg)]({found.binder_lab})")
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert len(rows) == len(notebook_names())
    for row, stem in zip(rows, found.nbviewer):
        assert f"[read]({found.nbviewer[stem]})" in row and f"[open on the hub]({found.nbgitpuller[stem]})" in row


@pytest.mark.parametrize("argv, message", [
    (["links", "https://github.com/ACCOUNT"], "expected https://github.com/ACCOUNT/REPO"),
    (["links", GH, "--hub", "hub.example.edu"], "expected the hub's address such as https://hub.example.edu"),
    (["links", GH, "--branch", "a b"], "not a branch name: 'a b'"),
    (["links"], "the following arguments are required: URL"),
])
def test_bad_arguments_give_one_line_and_status_2(capsys, argv, message):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("pagemove links: error: ") and message in err


def test_help_has_examples(capsys):
    assert main(["links", "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--hub" in out and "--markdown" in out


def test_readme_has_no_placeholder_links_and_says_how_to_make_them():
    readme = (REPO / "README.md").read_text()
    assert "OWNER" not in readme
    for link in re.findall(r"\]\((https?://[^)]+)\)", readme):
        assert "ACCOUNT" not in link, f"a README link holds a placeholder: {link}"
    assert "python -m pagemove links https://github.com/ACCOUNT/pagemove" in readme
    assert "docs/teaching.md" in readme
