"""The mybinder.org files agree with pyproject.toml and constraints.txt, so Binder runs what CI tests."""

import os
import stat
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a pip requirements/constraints file, comments and blanks dropped."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def exact_pins(path: Path) -> dict[str, Version]:
    """{canonical name: version} of a file in which every line must be `name==version`."""
    pins = {}
    for line in requirement_lines(path):
        req = Requirement(line)
        (spec,) = req.specifier                      # exactly one specifier ...
        assert spec.operator == "==" and "*" not in spec.version, f"{path.name}: {line!r} is not an exact pin"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{path.name}: {req.name} is pinned twice"
        pins[name] = Version(spec.version)
    return pins


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def binder_needs() -> list[Requirement]:
    """What Binder must provide: the runtime dependencies and the `lab` extra (JupyterLab, Voila, jupytext)."""
    project = pyproject()["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["lab"]]


BINDER_PINS = exact_pins(BINDER / "requirements.txt")
CONSTRAINTS = exact_pins(REPO / "constraints.txt")


@pytest.mark.parametrize("req", binder_needs(), ids=str)
def test_binder_pins_every_dependency_within_pyproject_range(req):
    name = canonicalize_name(req.name)
    assert name in BINDER_PINS, f"binder/requirements.txt does not pin {req.name} (pyproject.toml needs {req})"
    assert req.specifier.contains(BINDER_PINS[name], prereleases=True), \
        f"binder pins {req.name}=={BINDER_PINS[name]}, outside pyproject.toml's {req.specifier}"


@pytest.mark.parametrize("name", sorted(BINDER_PINS))
def test_binder_pins_match_constraints(name):
    assert name in CONSTRAINTS, f"binder pins {name}, which constraints.txt (what CI installs) does not"
    assert BINDER_PINS[name] == CONSTRAINTS[name], \
        f"binder pins {name}=={BINDER_PINS[name]} but constraints.txt has {CONSTRAINTS[name]}"


def binder_python() -> Version:
    """The Python version runtime.txt asks repo2docker for (`python-3.11`)."""
    (line,) = requirement_lines(BINDER / "runtime.txt")
    assert line.startswith("python-"), f"runtime.txt must read python-X.Y, not {line!r}"
    return Version(line.removeprefix("python-"))


def test_binder_python_satisfies_pyproject():
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert requires.contains(binder_python()), f"runtime.txt asks for {binder_python()}, pyproject needs {requires}"


@pytest.mark.parametrize("name", sorted(BINDER_PINS))
def test_binder_python_satisfies_each_pinned_package(name):
    """numpy 2.4 needs Python >= 3.11: repo2docker's default Python could not install the pins."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{name} is pinned for Binder but not installed here, so its Requires-Python is unknown")
    if Version(dist.version) != BINDER_PINS[name]:
        pytest.skip(f"installed {name} {dist.version} is not the pinned {BINDER_PINS[name]}")
    requires = SpecifierSet(dist.metadata.get("Requires-Python") or "")
    # Compare as X.Y.99 so that ">=3.11.2" style bounds are judged for the newest patch release of X.Y.
    python = Version(f"{binder_python()}.99") if len(binder_python().release) == 2 else binder_python()
    assert requires.contains(python), f"{name} {dist.version} needs Python {requires}, runtime.txt gives {python}"


def test_postbuild_installs_pagemove_without_deps_and_is_executable():
    post = BINDER / "postBuild"
    assert post.read_text().startswith("#!"), "postBuild needs a shebang line"
    assert "pip install --no-deps -e ." in post.read_text()
    assert os.stat(post).st_mode & stat.S_IXUSR, "postBuild must be executable on disk"
    tracked = subprocess.run(["git", "ls-files", "-s", "binder/postBuild"], cwd=REPO, text=True,
                             capture_output=True).stdout
    if tracked:       # committed: git must record the executable bit, or Binder gets a plain file
        assert tracked.startswith("100755"), f"git records postBuild as {tracked.split()[0]}, not 100755"
