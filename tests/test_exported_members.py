"""The public API is what the package exports, and what the README shows is exported (in the
manner of httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import importlib
import inspect
import io
import re
import tokenize
from pathlib import Path

import pytest

import validator

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "validator"
FACES = ["validator", "validator.asgi", "validator.wsgi", "validator.batch", "validator.cli",
         "validator.dns", "validator.hygiene", "validator.openapi", "validator.rules",
         "validator.web"]


@pytest.mark.parametrize("name", FACES)
def test_every_face_has_an_all_whose_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(set(exported), key=exported.index), "no repeats"
    for member in exported:
        assert getattr(module, member) is not None, f"{name}.{member}"


@pytest.mark.parametrize("name", FACES)
def test_public_names_of_a_face_are_all_in_its_all(name: str) -> None:
    module = importlib.import_module(name)
    public = {n for n, v in vars(module).items()
              if not n.startswith("_") and not inspect.ismodule(v)
              and n not in {"annotations", "TYPE_CHECKING", "Any", "Path"}}
    assert public <= set(module.__all__), f"{name} exposes names outside __all__"


def _readme_imports() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    found = []
    for module, names in re.findall(r"from (validator[\w.]*) import ([\w, ]+)", text):
        found += [(module, n.strip()) for n in names.split(",") if n.strip()]
    return found


def test_the_readme_imports_only_exported_names() -> None:
    imports = _readme_imports()
    assert len(imports) >= 3
    for module, name in imports:
        face = importlib.import_module(module)
        assert name in face.__all__, f"README imports {name} from {module}, not exported"


def test_the_readme_names_in_backticks_are_exported() -> None:
    text = (ROOT / "README.md").read_text()
    for dotted in set(re.findall(r"`(validator(?:\.[A-Za-z_]\w*)+)", text)):
        module_name, _, attr = dotted.rpartition(".")
        if attr.startswith("_") or module_name.rpartition(".")[2].startswith("_"):
            continue
        try:
            importlib.import_module(dotted)
            continue
        except ImportError:
            pass
        module = importlib.import_module(module_name)
        assert attr in module.__all__, f"README names {dotted}, which is not exported"


def test_documented_web_names_are_exported_from_the_web_face() -> None:
    import validator.web

    for name in ("Route", "RouteTable", "Lookup", "related", "unique", "key_file_check",
                 "Validated", "MemoryRateLimiter", "RedisRateLimiter", "create_app"):
        assert name in validator.web.__all__


def _exception_classes() -> list[type[BaseException]]:
    found = {}
    for name in FACES:
        module = importlib.import_module(name)
        for member in module.__all__:
            value = getattr(module, member)
            if inspect.isclass(value) and issubclass(value, BaseException):
                found[value.__qualname__] = value
    return list(found.values())


def test_every_exported_exception_derives_from_validator_error() -> None:
    classes = _exception_classes()
    assert len(classes) >= 8
    for cls in classes:
        assert issubclass(cls, validator.ValidatorError), cls


def test_exceptions_keep_the_standard_bases_they_had() -> None:
    assert issubclass(validator.UnknownSchema, LookupError)
    assert issubclass(validator.SchemaError, ValueError)
    assert issubclass(validator.OpenAPIError, validator.SchemaError)
    assert issubclass(validator.RulesError, validator.SchemaError)
    assert issubclass(validator.OptionsError, ValueError)


def _code_literals(path: Path) -> list[tuple[int, str]]:
    """Integer literals 1000 to 1029 in code (docstrings and comments are prose, not facts)."""
    hits = []
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if token.type == tokenize.NUMBER and token.string.isdigit() \
                and 1000 <= int(token.string) <= 1029:
            hits.append((token.start[0], token.line.strip()))
    return hits


def test_code_numbers_are_written_only_in_the_catalog() -> None:
    # Milliseconds and similar thousands are not codes: they are allowed where a line says so.
    allowed = re.compile(r"\* 1000|/ 1000|1000\)|\* 1024|_ms|PEXPIRE|sttl|ttl")
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_catalog.py":
            continue
        offenders += [f"{path.relative_to(ROOT)}:{line}: {text}"
                      for line, text in _code_literals(path) if not allowed.search(text)]
    assert offenders == []


def test_the_code_enum_and_the_catalog_agree() -> None:
    assert {int(c) for c in validator.Code} == set(validator.ErrorCatalog())
    assert validator.ErrorCatalog()[validator.Code.WRONG_FORMAT].http_status == 400
    assert validator.validate({}, "contacts.create").error.code is validator.Code.EMPTY_VALUE
