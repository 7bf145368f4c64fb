"""Packaging metadata: declared lower bounds match the tested minimum set; the licence is in place.

pyproject.toml's lower bounds are a promise that jaxtopo works with those releases.
.ci/minimum-versions.txt pins the same releases and .ci/min-versions runs the tests on them; if
the two files drift apart, the script silently tests something other than what is promised.
"""

import os
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROJECT = os.path.join(ROOT, "pyproject.toml")
MINIMUM_VERSIONS = os.path.join(ROOT, ".ci", "minimum-versions.txt")
LICENSE = os.path.join(ROOT, "LICENSE")


def lower_bounds(requirements: list[str]) -> dict[str, Version]:
    """{name: the version after >=} for PEP 508 requirement strings; each must have one."""
    bounds = {}
    for text in requirements:
        requirement = Requirement(text)
        floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        assert len(floors) == 1, f"{text!r}: expected exactly one '>=' lower bound"
        bounds[canonicalize_name(requirement.name)] = floors[0]
    return bounds


def pins(constraints: str) -> dict[str, Version]:
    """{name: pinned version} of a pip constraints file made of `name==version` lines."""
    pinned = {}
    for line in constraints.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        assert match, f"{line!r}: expected 'name==version'"
        name = canonicalize_name(match[1])
        assert name not in pinned, f"{name} pinned twice"
        pinned[name] = Version(match[2])
    return pinned


def drift(bounds: dict[str, Version], pinned: dict[str, Version]) -> list[str]:
    """Every disagreement between declared lower bounds and pins, one sentence each."""
    problems = []
    for name, floor in sorted(bounds.items()):
        if name not in pinned:
            problems.append(f"{name}: lower bound {floor} is not pinned")
        elif pinned[name] != floor:
            problems.append(f"{name}: lower bound {floor} but pinned {pinned[name]}")
    # a pin for something no longer depended on would be tested yet promise nothing
    problems += [f"{name}: pinned but not a dependency" for name in sorted(set(pinned) - set(bounds))]
    return problems


def pyproject() -> dict:
    with open(PYPROJECT, "rb") as f:
        return tomllib.load(f)


def test_minimum_versions_file_pins_every_dependency_at_its_lower_bound():
    with open(MINIMUM_VERSIONS) as f:
        pinned = pins(f.read())
    assert drift(lower_bounds(pyproject()["project"]["dependencies"]), pinned) == []


def test_jax_and_jaxlib_minimums_are_the_same_release():
    # jax only runs with the jaxlib of its own release, so the two floors move together
    bounds = lower_bounds(pyproject()["project"]["dependencies"])
    assert bounds["jax"] == bounds["jaxlib"]


@pytest.mark.parametrize("requirements, constraints, expected", [
    (["numpy>=1.26,<3"], "numpy==1.26.0\n", []),  # same version, spelled differently
    (["numpy>=1.26,<3"], "numpy==2.0\n", ["numpy: lower bound 1.26 but pinned 2.0"]),
    (["numpy>=1.26", "scipy>=1.12"], "# header\nnumpy==1.26\n", ["scipy: lower bound 1.12 is not pinned"]),
    (["numpy>=1.26"], "numpy==1.26\nPillow==10\n", ["pillow: pinned but not a dependency"]),
])
def test_drift_check_reports_each_kind_of_disagreement(requirements, constraints, expected):
    # the real files agree, so this is what shows the check above can fail at all
    assert drift(lower_bounds(requirements), pins(constraints)) == expected


def test_a_dependency_without_a_lower_bound_is_rejected():
    with pytest.raises(AssertionError, match="lower bound"):
        lower_bounds(["numpy<3"])


def test_min_versions_script_installs_with_the_constraints_file():
    script = os.path.join(ROOT, ".ci", "min-versions")
    assert os.access(script, os.X_OK)
    with open(script) as f:
        assert "-c \"$work/src/.ci/minimum-versions.txt\"" in f.read()


def test_license_is_the_apache_2_0_text_that_pyproject_declares():
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    with open(LICENSE) as f:
        text = f.read()
    assert text.startswith("Copyright 2026 The jaxtopo authors\n")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    # the whole licence, not just its title: its first and last sections are present
    assert "1. Definitions." in text
    assert "9. Accepting Warranty or Additional Liability." in text
    assert "END OF TERMS AND CONDITIONS" in text
