"""What a user installs: the wheel built from this tree, its files and its metadata."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import validator

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # A copy of the tracked files, so that the build leaves nothing in the work tree; built
    # with the test environment's setuptools (no isolated environment, so no network).
    tree = tmp_path_factory.mktemp("tree")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=REPO, capture_output=True, check=True
                           ).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(tree)], check=True, capture_output=True,
                   timeout=300)
    (built,) = out.glob("getresponse_validator-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_the_package_schemas_and_types_and_no_tests(
        wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    schemas = {n for n in names if n.startswith("validator/schemas/") and n.endswith(".json")}
    shipped = {p.relative_to(REPO / "schemas").as_posix()
               for p in (REPO / "schemas").rglob("*.json")}
    assert {n.removeprefix("validator/schemas/") for n in schemas} == shipped
    assert len(shipped) >= 55
    assert "validator/py.typed" in names
    assert "validator/batch/_encoding.py" in names
    assert {"validator/__init__.py", "validator/cli/__init__.py", "validator/web/asgi.py",
            "validator/asgi.py", "validator/wsgi.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "samples/"))
                or "/tests/" in n or n.endswith((".pyc", ".partial"))]
    licenses = [n for n in names if n.endswith("licenses/LICENSE")]
    assert licenses and b"MIT License" in wheel.read(licenses[0])


def test_the_wheel_metadata(wheel: zipfile.ZipFile) -> None:
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(wheel.read(meta_name))
    assert meta["Name"] == "getresponse-validator"
    assert meta["Version"] == validator.__version__
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert urls["Error codes"].startswith("https://")
    requires = meta.get_all("Requires-Dist") or []
    assert any(r.startswith("charset-normalizer") for r in requires)
    (entry,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert b"validator = validator.cli:main" in wheel.read(entry)


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    assert validator.__version__ == version("getresponse-validator")
    from validator import __version__

    assert __version__ == validator.__version__
    done = subprocess.run([sys.executable, "-m", "validator", "--version"],
                          capture_output=True, text=True, check=True)
    assert validator.__version__ in done.stdout


def test_the_changelog_has_the_current_version() -> None:
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{validator.__version__}]" in text
    assert "## [Unreleased]" in text
