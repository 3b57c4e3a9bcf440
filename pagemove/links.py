"""Links that open the notebooks of a copy of this repository: Binder, Voila on Binder, nbviewer, nbgitpuller.

    found = links("https://github.com/ACCOUNT/pagemove", hub="https://hub.example.edu")
    found.binder_lab, found.binder_voila, found.nbviewer["07-exercises"], found.nbgitpuller["07-exercises"]

Formats: mybinder.org's /v2/gh/ACCOUNT/REPO/BRANCH?urlpath=... (gl/ for gitlab.com, git/ for any other
git URL); nbviewer.org/github/ACCOUNT/REPO/blob/BRANCH/PATH; and nbgitpuller's
HUB/hub/user-redirect/git-pull?repo=URL&urlpath=lab/tree/REPO/PATH&branch=BRANCH, whose urlpath
starts with the folder nbgitpuller clones into (the repository's name), as its link generator does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"  # present in a checkout, not in a wheel
DASHBOARD = "dashboard"
_SCP = re.compile(r"git@([\w.-]+):([\w.-]+(?:/[\w.-]+)+?)(?:\.git)?/?")  # git@github.com:ACCOUNT/REPO.git


@dataclass(frozen=True)
class Links:
    """Every link for one repository and branch; nbgitpuller's only with a hub."""

    repo: str  # the https URL, normalised
    branch: str
    name: str  # the repository's name: the folder nbgitpuller clones into
    binder_lab: str
    binder_voila: str
    nbviewer_folder: str | None
    nbviewer: dict[str, str] = field(default_factory=dict)  # notebook stem -> link
    hub: str | None = None
    nbgitpuller_folder: str | None = None
    nbgitpuller: dict[str, str] = field(default_factory=dict)


def notebook_names(folder: Path = NOTEBOOKS) -> list[str]:
    """The notebooks of this checkout (stems, sorted), the dashboard last; none outside a checkout."""
    stems = sorted(p.stem for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    return [s for s in stems if s != DASHBOARD] + [s for s in stems if s == DASHBOARD]


def parse_repo(url: str) -> tuple[str, str, str]:
    """(host, path, https URL) of a git repository URL; ValueError naming what is wrong."""
    text = url.strip()
    scp = _SCP.fullmatch(text)
    if scp:
        text = f"https://{scp.group(1)}/{scp.group(2)}"
    if "://" not in text and re.match(r"[\w.-]+\.\w+/", text):
        text = "https://" + text  # github.com/ACCOUNT/REPO
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected a repository URL such as https://github.com/ACCOUNT/pagemove, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"a repository URL has no ?query or #fragment: {url!r}")
    path = parts.path.strip("/").removesuffix(".git")
    host = parts.netloc.lower().removeprefix("www.")
    segments = path.split("/") if path else []
    if host in ("github.com", "gitlab.com"):
        if len(segments) < 2 or (host == "github.com" and len(segments) != 2):
            raise ValueError(f"expected https://{host}/ACCOUNT/REPO, got {url!r}")
    elif not segments:
        raise ValueError(f"the URL names no repository: {url!r}")
    if any(not re.fullmatch(r"[\w.-]+", s) for s in segments):
        raise ValueError(f"unexpected characters in the repository path {path!r}")
    return host, path, f"https://{host}/{path}"


def links(repo: str, branch: str = "main", hub: str | None = None, notebooks: list[str] | None = None) -> Links:
    """All links for `repo` at `branch` (and for `hub`, nbgitpuller's)."""
    host, path, https = parse_repo(repo)
    if not re.fullmatch(r"[\w.][\w./-]*", branch) or ".." in branch:
        raise ValueError(f"not a branch name: {branch!r}")
    name = path.rsplit("/", 1)[-1]
    names = notebook_names() if notebooks is None else notebooks
    ref = quote(branch, safe="")
    if host == "github.com":
        binder = f"https://mybinder.org/v2/gh/{path}/{ref}"
        nbviewer_base = f"https://nbviewer.org/github/{path}"
        viewer_folder = f"{nbviewer_base}/tree/{branch}/notebooks/"
        viewer = {s: f"{nbviewer_base}/blob/{branch}/notebooks/{s}.ipynb" for s in names}
    elif host == "gitlab.com":
        binder = f"https://mybinder.org/v2/gl/{quote(path, safe='')}/{ref}"
        viewer_folder = None  # nbviewer shows single files from a raw URL only
        viewer = {s: f"https://nbviewer.org/urls/gitlab.com/{path}/-/raw/{branch}/notebooks/{s}.ipynb"
                  for s in names}
    else:
        binder = f"https://mybinder.org/v2/git/{quote(https, safe='')}/{ref}"
        viewer_folder, viewer = None, {}
    found = dict(repo=https, branch=branch, name=name, binder_lab=f"{binder}?urlpath=lab/tree/notebooks",
                 binder_voila=f"{binder}?urlpath=voila/render/notebooks/{DASHBOARD}.ipynb",
                 nbviewer_folder=viewer_folder, nbviewer=viewer)
    if hub is not None:
        hub_parts = urlsplit(hub.strip())
        if hub_parts.scheme not in ("http", "https") or not hub_parts.netloc or hub_parts.query:
            raise ValueError(f"expected the hub's address such as https://hub.example.edu, got {hub!r}")
        base = hub.strip().rstrip("/")

        def pull(urlpath: str) -> str:
            query = urlencode({"repo": https, "urlpath": urlpath, "branch": branch})
            return f"{base}/hub/user-redirect/git-pull?{query}"

        found.update(hub=base, nbgitpuller_folder=pull(f"lab/tree/{name}/notebooks"),
                     nbgitpuller={s: pull(f"lab/tree/{name}/notebooks/{s}.ipynb") for s in names})
    return Links(**found)


def text(found: Links) -> str:
    """The links as plain text, one per line (the links themselves cannot be wrapped)."""
    out = [f"Links for {found.repo}, branch {found.branch}.", "",
           "JupyterLab on mybinder.org (no install; the first start builds the image, a few minutes):",
           found.binder_lab, "", "The explorer as a Voila dashboard on mybinder.org:", found.binder_voila, ""]
    if found.nbviewer_folder or found.nbviewer:
        out.append("Read-only on nbviewer (no running code, no widgets):")
        out += [found.nbviewer_folder] if found.nbviewer_folder else []
        out += [f"{stem}: {url}" for stem, url in found.nbviewer.items()]
    else:
        out.append("nbviewer: it links GitHub and gitlab.com repositories only.")
    out.append("")
    if found.hub:
        out.append(f"On {found.hub} through nbgitpuller (it clones the repository into ~/{found.name}, or "
                   "updates it, then opens the notebook):")
        out.append(found.nbgitpuller_folder)
        out += [f"{stem}: {url}" for stem, url in found.nbgitpuller.items()]
    else:
        out.append("On a JupyterHub with nbgitpuller: pass --hub https://your.hub.example for those links.")
    return "\n".join(out) + "\n"


def markdown(found: Links) -> str:
    """The links as Markdown: Binder badges, then a table with a row per notebook."""
    out = [f"[![Binder](https://mybinder.org/badge_logo.svg)]({found.binder_lab}) "
           f"· [the explorer as a dashboard]({found.binder_voila})"]
    if found.nbviewer_folder:
        out[0] += f" · [read-only on nbviewer]({found.nbviewer_folder})"
    names = list(found.nbviewer) or list(found.nbgitpuller)
    if names:
        header = ["notebook"] + ["nbviewer"] * bool(found.nbviewer) + ["JupyterHub"] * bool(found.nbgitpuller)
        out += ["", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for stem in names:
            row = [f"`{stem}`"]
            row += [f"[read]({found.nbviewer[stem]})"] if found.nbviewer else []
            row += [f"[open on the hub]({found.nbgitpuller[stem]})"] if found.nbgitpuller else []
            out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"
