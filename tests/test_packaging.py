"""Packaging: compatible ranges for users, exact pins for CI, an honest requires-python."""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
TEST_COMMAND = re.compile(r"^python3 -m venv \.venv && .*pytest$", re.MULTILINE)


def pins() -> dict[str, str]:
    lines = (line.split("#")[0].strip() for line in (ROOT / "constraints.txt").read_text().splitlines())
    return {Requirement(line).name.lower(): line for line in lines if line}


def test_runtime_dependencies_are_ranges_not_pins():
    """Is every runtime dependency a range with a lower and an upper bound, and never test-only?"""
    for text in PYPROJECT["dependencies"]:
        spec = Requirement(text).specifier
        operators = {s.operator for s in spec}
        assert "==" not in operators and {">=", "<"} <= operators, text
    names = {Requirement(text).name for text in PYPROJECT["dependencies"]}
    assert not names & {"pytest", "pytest-xdist", "nbval"}  # the kit never imports them
    assert {"pytest", "nbval"} <= {Requirement(t).name for t in PYPROJECT["optional-dependencies"]["test"]}


def test_constraints_pin_every_dependency_inside_its_range():
    """Does constraints.txt pin each runtime, test and bench dependency exactly, to a version its range
    allows (an unpinned torch is the newest, a CUDA build of several GB)?"""
    pinned = pins()
    extras = PYPROJECT["optional-dependencies"]
    for text in PYPROJECT["dependencies"] + extras["test"] + extras["bench"]:
        requirement = Requirement(text)
        line = pinned[requirement.name.lower()]
        version = Version(line.split("==")[1])
        assert "==" in line and version in requirement.specifier, (text, line)


def test_requires_python_matches_what_the_kit_uses():
    """Does requires-python refuse 3.10 (no tomllib) and accept the Python running the tests?"""
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(PYPROJECT["requires-python"])
    assert "3.10" not in spec and "3.11" in spec
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in spec


def test_ci_runs_exactly_the_readme_test_command():
    """Is the command in .ci/run the README's test command, installing with the constraints file?"""
    readme = TEST_COMMAND.findall((ROOT / "README.md").read_text())
    ci = TEST_COMMAND.findall((ROOT / ".ci" / "run").read_text())
    assert len(ci) == 1 and ci[0] in readme
    assert "-c constraints.txt" in ci[0]


def test_the_worker_wheel_the_readme_installs_is_the_one_pip_builds():
    """Does every wheel file the README's worker recipes install carry this kit's version?"""
    wheel = f"coursekit-{PYPROJECT['version']}-py3-none-any.whl"
    named = set(re.findall(r"coursekit-[\w.]+-py3-none-any\.whl", (ROOT / "README.md").read_text()))
    assert named == {wheel}
