"""Packaging and the README's install notes: an SPDX license with its text, no links outside the repository."""

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is in the standard library from Python 3.11")
def test_license_is_an_spdx_string_with_its_text_beside_it():
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"  # the table form is refused by setuptools from 2027
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d)(\.\d+)*", r) for r in pyproject["build-system"]["requires"])
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_readme_says_how_to_pick_the_torch_build_and_stays_inside_the_repository():
    readme = (REPO / "README.md").read_text()
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in readme
    assert re.search(r"pip install torch --index-url https://download.pytorch.org/whl/cu1\d\d", readme)
    assert "../" not in readme  # no path outside the repository (a user's copy has no ../shared)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is in the standard library from Python 3.11")
def test_ray_is_an_optional_extra_with_a_bounded_range_that_ci_installs():
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert not any(requirement.startswith("ray") for requirement in pyproject["project"]["dependencies"])
    [ray] = pyproject["project"]["optional-dependencies"]["ray"]
    assert re.fullmatch(r"ray>=2\.\d+,<3", ray), ray
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index("pip install -q -e '.[dev,ray]'") < ci.index("make test")  # so the Ray tests run in CI


def test_h5py_is_the_optional_shapes3d_extra_that_make_setup_installs():
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert not any(requirement.startswith("h5py") for requirement in pyproject["project"]["dependencies"])
    assert pyproject["project"]["optional-dependencies"]["shapes3d"] == ["h5py>=3.0"]
    assert "pip install -q -e '.[dev,shapes3d]'" in (REPO / "Makefile").read_text()  # so its tests run everywhere
