"""The official JSON-Schema-Test-Suite (draft 2020-12) run through the engine's public API:
its valid/invalid verdicts must agree with the suite's.

Required tests run with formats as annotations (the standard's default); `optional/format/`
runs with formats asserted, as the engine does for the API's schemas. The few cases where the
engine deliberately differs are listed in DEVIATIONS with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from validator import SchemaRegistry, Validator

SHARED = Path(__file__).resolve().parents[3] / "shared"
SUITE = SHARED / "reference" / "json-schema-test-suite"
TESTS = SUITE / "tests" / "draft2020-12"

# (file, case description, test description) → why the engine's verdict differs on purpose.
_EMAIL = ("e-mail syntax follows email-validator (SPEC §3), which refuses quoted local parts, "
          "IP-literal domains and single-label domains that RFC 5321 allows")
DEVIATIONS: dict[tuple[str, str, str], str] = {
    ("optional/format/email.json", "validation of e-mail addresses",
     "a quoted string with a space in the local part is valid"): _EMAIL,
    ("optional/format/email.json", "validation of e-mail addresses",
     "a quoted string with a double dot in the local part is valid"): _EMAIL,
    ("optional/format/email.json", "validation of e-mail addresses",
     "a quoted string with a @ in the local part is valid"): _EMAIL,
    ("optional/format/email.json", "validation of e-mail addresses",
     "an IPv4-address-literal after the @ is valid"): _EMAIL,
    ("optional/format/email.json", "validation of e-mail addresses",
     "an IPv6-address-literal after the @ is valid"): _EMAIL,
    ("optional/format/idn-email.json", "validation of an internationalized e-Mail addresses",
     "a valid idn e-mail (example@example.test in Hangul)"): _EMAIL,
    ("optional/format/idn-email.json", "validation of an internationalized e-mail addresses",
     "a non-ASCII quoted local part is valid"): _EMAIL,
    ("optional/format/idn-email.json", "validation of an internationalized e-mail addresses",
     "a C1 control in the local part is valid"): _EMAIL,
    ("optional/format/idn-email.json", "validation of an internationalized e-mail addresses",
     "a noncharacter in the local part is valid"): _EMAIL,
    ("vocabulary.json", "schema that uses custom metaschema with with no validation vocabulary",
     "no validation: invalid number, but it still validates"):
        "vocabularies are not implemented: every schema is read with the full 2020-12 "
        "vocabulary, as the API's schemas are",
}

# Formats the engine leaves to jsonschema's checker, which asserts them only when optional
# packages are installed; the engine does not claim them (SPEC §3 lists the formats it checks).
UNCLAIMED_FORMATS = {
    "duration", "hostname", "idn-hostname", "iri", "iri-reference", "json-pointer",
    "relative-json-pointer", "uri-reference", "uri-template", "time", "uuid", "regex",
    "ecmascript-regex", "unknown",
}
# Optional files about behaviour outside the standard's required core.
UNCLAIMED_OPTIONAL = {
    "optional/ecmascript-regex.json": "patterns are Python regular expressions, not ECMA-262",
    "optional/non-bmp-regex.json": "patterns are Python regular expressions, not ECMA-262",
    "optional/format-assertion.json": "the format-assertion vocabulary is not implemented",
    "optional/cross-draft.json": "schemas of other drafts are only run through jsonschema",
    "optional/float-overflow.json": "Python floats overflow where the suite expects big numbers",
}


def _remotes() -> SchemaRegistry:
    registry = SchemaRegistry(shipped=False)
    root = SUITE / "remotes"
    for file in sorted(root.rglob("*.json")):
        relative = file.relative_to(root).as_posix()
        registry.register(f"remote:{relative}", json.loads(file.read_text()),
                          base_uri=f"http://localhost:1234/{relative}")
    return registry


def _cases() -> list[Any]:
    if not TESTS.is_dir():
        return []
    params = []
    for file in sorted(TESTS.rglob("*.json")):
        relative = file.relative_to(TESTS).as_posix()
        for group in json.loads(file.read_text()):
            for test in group["tests"]:
                key = (relative, group["description"], test["description"])
                marks = []
                reason = DEVIATIONS.get(key) or UNCLAIMED_OPTIONAL.get(relative)
                if relative.startswith("optional/format/"):
                    fmt = relative.removeprefix("optional/format/").removesuffix(".json")
                    if fmt in UNCLAIMED_FORMATS:
                        reason = reason or f"format {fmt!r} is not asserted by the engine"
                if reason:
                    marks.append(pytest.mark.skip(reason=reason))
                params.append(pytest.param(relative, group["schema"], test["data"],
                                           test["valid"], id=" | ".join(key), marks=marks))
    return params


_REGISTRY: SchemaRegistry | None = None


@pytest.mark.skipif(not TESTS.is_dir(), reason=f"the suite is not at {TESTS}")
@pytest.mark.parametrize(("relative", "schema", "data", "valid"), _cases())
def test_suite(relative: str, schema: Any, data: Any, valid: bool) -> None:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _remotes()
    assert_formats = relative.startswith("optional/format")
    validator = Validator(schema, registry=_REGISTRY, assert_formats=assert_formats)
    # A bare string payload is read as JSON text, so strings go in as JSON; everything else
    # as the parsed value it already is (big integers keep their precision that way).
    result = validator.validate(json.dumps(data) if isinstance(data, str) else data)
    assert result.ok is valid, result.error and result.error.to_dict()["context"]
    if not valid:
        # Every invalid verdict comes with a body the API would send.
        assert result.error is not None
        assert result.error.context
