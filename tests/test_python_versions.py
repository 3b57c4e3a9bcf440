"""The Pythons pagemove claims are the Pythons its pins install on, and make refuses the others in one line."""

import os
import re
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
REQUIRES = SpecifierSet(PROJECT["project"]["requires-python"])
(LOWEST,) = [Version(s.version) for s in REQUIRES if s.operator == ">="]


def pins() -> dict[str, Version]:
    out = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            out[req.name] = Version(spec.version)
    return out


def installed(name: str) -> bool:
    """Whether a pinned package is installed here: some are only for some Pythons (overrides: < 3.12)."""
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


INSTALLED_PINS = {name: version for name, version in pins().items() if installed(name)}


def test_every_statement_of_the_lowest_python_agrees():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^PYTHON_MIN\s*:=\s*(\S+)$", makefile, re.M).group(1) == str(LOWEST)
    assert PROJECT["tool"]["ruff"]["target-version"] == f"py{LOWEST.major}{LOWEST.minor}"
    versions = [Version(c.rsplit("::", 1)[1]) for c in PROJECT["project"]["classifiers"]
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert min(versions) == LOWEST


@pytest.mark.parametrize("name, version", sorted(INSTALLED_PINS.items()))
def test_every_pin_installs_on_the_lowest_claimed_python(name, version):
    dist = metadata.distribution(name)
    if Version(dist.version) != version:
        pytest.skip(f"{name} {dist.version} is installed, not the pinned {version}")
    needs = SpecifierSet(dist.metadata.get("Requires-Python") or "")
    assert needs.contains(f"{LOWEST}.0"), f"{name}=={version} needs Python {needs}; pyproject claims {REQUIRES}"


def test_the_claim_is_not_lower_than_the_pins_allow():
    """Python 3.10 would fail with pip's ResolutionImpossible: some pin refuses the Python below the claim."""
    below = f"{LOWEST.major}.{LOWEST.minor - 1}.99"
    refusing = [name for name in INSTALLED_PINS
                if not SpecifierSet(metadata.distribution(name).metadata.get("Requires-Python") or "").contains(below)]
    assert refusing, f"every pin installs on {below}: pyproject could claim it"
    assert not REQUIRES.contains(below)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_refuses_an_old_python_in_one_line(tmp_path):
    fake = tmp_path / "python3.10"  # answers the Makefile's two questions as Python 3.10.13 would
    fake.write_text("#!/bin/sh\ncase \"$2\" in *%d.%d.%d*) echo 3.10.13;; *) echo 0;; esac\n")
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "lab", f"PYTHON={fake}",
                           f"VENV={venv}"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, MAKEFLAGS=""))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"pagemove needs Python {LOWEST} or newer, and PYTHON={fake} is Python 3.10.13" in done.stderr
    assert "make lab PYTHON=python3.12" in done.stderr
    assert not venv.exists()  # it stopped before creating anything
